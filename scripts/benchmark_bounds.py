"""Time and peak memory of annotating pathological records (fgen.annotate.bounds): each case in
a fresh child process that loads MODEL, warms it up on an abstract and runs `annotate` on the
case; reports seconds and peak RSS above the loaded model, as a Markdown table.

    python scripts/benchmark_bounds.py MODEL [--cases sentence-300k,parens-100k] [--limit 1000000]
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import typer

ABSTRACT = ("Knockdown of ATG12 in UM cells inhibits tumorigenesis. Overexpression of ZNNT1 promotes autophagy "
            "in HeLa cells, whereas knockdown of ZNNT1 attenuates PP242-induced autophagy.")
SENTENCE = "Knockdown of ATG12 in UM cells inhibits tumorigenesis and "  # no full stop: one sentence


def cases() -> Dict[str, List[str]]:
    """The pathological inputs of issue 27 (name -> texts of one input file)."""
    long_sentence = (SENTENCE * (300_000 // len(SENTENCE) + 1))[:300_000]
    return {
        "abstract": [ABSTRACT],
        "sentence-30k": [long_sentence[:30_000]],
        "sentence-60k": [long_sentence[:60_000]],
        "sentence-300k": [long_sentence],
        "parens-16k": ["(" * 16_000],
        "parens-100k": ["(" * 100_000],
        "long-among-8": [ABSTRACT] * 4 + [long_sentence] + [ABSTRACT] * 4,
        "record-999k-with-2": [ABSTRACT, ("Knockdown of ATG12 inhibits tumorigenesis. " * 24_000)[:999_000], ABSTRACT],
    }


def child(model: str, source: str) -> None:
    import spacy

    import fgen  # noqa: F401
    from fgen.annotate.run_loop import annotate

    nlp = spacy.load(model)
    nlp(ABSTRACT)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    summary = annotate(nlp, source, source + ".out.jsonl")
    print(json.dumps({"seconds": round(time.perf_counter() - start, 1), "loaded_mb": round(loaded),
                      "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "annotated": summary.annotated, "skipped": summary.skipped}))


def main(
    model: str = typer.Argument(..., help="pipeline folder or package"),
    names: str = typer.Option(",".join(cases()), "--cases", help="comma-separated case names"),
    limit: int = typer.Option(1_000_000, "--limit", help="FGEN_MAX_RECORD_CHARS for the runs"),
    timeout: int = typer.Option(1800, "--timeout", help="seconds per case"),
) -> None:
    """Run each case in a child process and print a Markdown table."""
    print(f"model {model}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, FGEN_MAX_RECORD_CHARS={limit}\n")
    print("| case | characters | seconds | peak RSS above the loaded model (MB) | annotated | skipped |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    all_cases = cases()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names.split(","):
            texts = all_cases[name]
            source = Path(tmp) / f"{name}.jsonl"
            source.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf8")
            env = {**os.environ, "FGEN_MAX_RECORD_CHARS": str(limit), "FGEN_MAX_RECORD_TOKENS": str(limit)}  # a token has a character at least
            try:
                result = subprocess.run([sys.executable, __file__, "--child", model, str(source)], capture_output=True,
                                        text=True, timeout=timeout, env=env)
                got = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None
            except subprocess.TimeoutExpired:
                got, result = None, None
            chars = sum(len(t) for t in texts)
            if got is None:
                why = f"timed out after {timeout} s" if result is None else f"failed: {result.stderr.strip().splitlines()[-1:]}"
                print(f"| {name} | {chars} | {why} | | | |")
            else:
                print(f"| {name} | {chars} | {got['seconds']} | {got['peak_mb'] - got['loaded_mb']} | {got['annotated']} | {got['skipped']} |")
            sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        typer.run(main)

"""Inference speed and memory of a (packaged) pipeline: words/s and docs/s per batch size and
number of processes, on CPU or on one GPU.

    python scripts/benchmark_speed.py en_fgen_pipeline corpus/v2/dev.spacy \
        --batch-sizes 1,8,32,128 --n-process 1,2 --repeats 3 --report docs/benchmarks.md --output speed.json
    python scripts/benchmark_speed.py training/pipeline/model-best abstracts.jsonl --gpu-id 0 --n-process 1

MODEL: an installed pipeline package (e.g. en_fgen_pipeline from scripts/package.py) or a
pipeline folder. DATA: a DocBin (.spacy: the texts of its docs), a .jsonl file ({"text": ...}
per line) or a .txt file (one text per line); blank texts are left out, a bad record stops the
run (a benchmark on silently fewer texts would mislead).

Every (batch size, processes) setting is measured in a fresh Python process, so its peak memory
is its own and the model load is timed apart: load the model, run `nlp.pipe` over a few texts
(warm-up), then time `nlp.pipe(texts, batch_size=B, n_process=P)` over all texts `--repeats`
times. Words are non-space tokens. Peak RSS is `ru_maxrss` of the measuring process; with
P > 1 also of the largest worker process (spaCy forks the workers, so pages shared with the
main process count in both). With P > 1 every repeat starts its own workers, and their
start-up is timed, as in any `nlp.pipe(..., n_process=P)` call. P > 1 is not measured on GPU.

`--runtimes torch,onnx,onnx-int8` measures every setting once per encoder runtime (the
environment variable FGEN_ENCODER_RUNTIME of the measuring process, fgen/pipeline/layers/
onnx_encoder.py; "default": unset). The reference, measured in its own process too unless
`--no-reference`: the bare PyTorch fp32 forward of the pipeline's encoder over the whole texts
(Hugging Face tokenizer, truncated to the encoder's limit, batches of the first batch size, no
gradient, words counted as above). The machine's load moves both alike, so the table's ratio of
the pipeline to it is what compares runs on different machines or days.
"""
import os
import multiprocessing
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from fgen.analysis.corpus_stats import count_words
from fgen.formats.jsonl import read_jsonl
from fgen.formats.records import Problem
from fgen.formats.text import read_txt
from fgen.util.atomic import write_bytes_atomic
from fgen.runs.benchmarking import machine, maxrss_mb, mean_std, update_report
from fgen.util.console import msg
from fgen.util.markdown import md_table
from fgen.annotate.loading import PipelineLoadError, load_pipeline, use_device
from fgen.pipeline.layers.onnx_encoder import CHOICES as RUNTIME_CHOICES, ENV_VARIABLE as RUNTIME_VARIABLE

MARKS = ("<!-- speed-benchmark:start -->", "<!-- speed-benchmark:end -->")
DATA_SUFFIXES = (".spacy", ".jsonl", ".txt")
WARMUP_TEXTS = 16
# Argument that makes this script measure one setting instead of running the CLI (see worker_main).
WORKER_FLAG = "--measure-one-setting"
GPU_MULTIPROCESS_NOTE = "n_process > 1 is not supported on GPU"
app = typer.Typer(add_completion=False)


class BenchmarkError(ValueError):
    """A model, data file or option that cannot be used; `str()` is one line `path: reason`."""


# ---------------------------------------------------------------- inputs


def _strict_texts(items: Sequence[Any]) -> List[str]:
    """The texts of annotate_io's records; the first Problem is raised as an error."""
    texts = []
    for item in items:
        if isinstance(item, Problem):
            raise BenchmarkError(str(item))
        texts.append(item.text)
    return texts


def read_docbin_texts(path: Path) -> List[str]:
    """The non-blank texts of the docs of a DocBin file.

    RAISES (BenchmarkError): when the file is not a readable DocBin.
    """
    try:
        docs = list(DocBin().from_disk(path).get_docs(Vocab()))
    except Exception as err:  # zlib / msgpack / layout errors: any of them means "not a DocBin"
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise BenchmarkError(f"{path}: not a readable DocBin ({reason})") from None
    return [doc.text for doc in docs if doc.text.strip()]


def read_texts(path: Path, limit: Optional[int] = None) -> List[str]:
    """The texts of a data file by suffix: .spacy (DocBin), .jsonl ({"text"} per line) or .txt
    (one text per line), blank texts left out; the first `limit` of them if given.

    RAISES (BenchmarkError): one line `path: reason` for a missing or unsupported file, a bad
    record (`path:line: reason`) or a file without texts.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise BenchmarkError(f"{path}: unsupported data (expected {', '.join(DATA_SUFFIXES)})")
    try:
        if suffix == ".spacy":
            texts = read_docbin_texts(path)
        elif suffix == ".jsonl":
            texts = _strict_texts(list(read_jsonl(path)))
        else:
            texts = _strict_texts(list(read_txt(path)))
    except OSError as err:
        raise BenchmarkError(f"{path}: cannot read ({err.strerror or err})") from None
    if not texts:
        raise BenchmarkError(f"{path}: no texts")
    return texts[:limit] if limit is not None else texts


def check_model(model: str) -> None:
    """Fail early, before any process starts, on a MODEL that is neither a pipeline folder nor
    an installed package (whether it loads is found out by the first measurement).

    RAISES (BenchmarkError): `model: reason`.
    """
    path = Path(model)
    if path.exists():
        if not (path.is_dir() and (path / "config.cfg").is_file()):
            raise BenchmarkError(f"{model}: not a pipeline folder (no config.cfg)")
    elif not spacy.util.is_package(model):
        raise BenchmarkError(f"{model}: no such pipeline folder or installed package")


def parse_ints(value: str, option: str) -> List[int]:
    """The positive integers of a comma-separated option value, in order, without repeats.

    RAISES (BenchmarkError): `option: reason`.
    """
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise BenchmarkError(f"{option}: expected comma-separated integers, got {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise BenchmarkError(f"{option}: expected positive integers, got {value!r}")
    return list(dict.fromkeys(numbers))


# ---------------------------------------------------------------- one setting, in its own process


def _peak_rss_mb(who: int) -> float:
    return maxrss_mb(resource.getrusage(who).ru_maxrss)


def _gpu_stats() -> Dict[str, Any]:
    """Name and peak allocated memory (MB) of the current CUDA device, as torch sees them."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {"gpu_name": torch.cuda.get_device_name(), "gpu_max_memory_mb": torch.cuda.max_memory_allocated() / 2**20}


def _reap_workers() -> None:
    # spaCy leaves its finished workers unjoined: join them so that RUSAGE_CHILDREN counts them
    # and the next pass starts on a quiet machine.
    for proc in multiprocessing.active_children():
        proc.join()


def _timed_pass(nlp: spacy.language.Language, texts: List[str], batch_size: int, n_process: int) -> Dict[str, float]:
    """Seconds, docs and words of one `nlp.pipe` pass over `texts`."""
    n_docs = n_words = 0
    start = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=batch_size, n_process=n_process):
        n_docs += 1
        n_words += count_words(doc)
    seconds = time.perf_counter() - start
    _reap_workers()  # untimed: the docs are all there
    return {"seconds": seconds, "docs": n_docs, "words": n_words}


def measure(model: str, texts: List[str], batch_size: int, n_process: int, repeats: int, gpu_id: int = -1,
            runtime: Optional[str] = None) -> Dict[str, Any]:
    """Load `model` and time `repeats` passes of `nlp.pipe` over `texts`, after a warm-up.
    Meant to run in a fresh process (see `run_setting`): the peak memory is the process's.

    RETURNS (Dict[str, Any]): per-repeat seconds, words/s and docs/s, their means, docs and
        words per pass, load seconds, peak RSS (MB), the model's meta and, on GPU, its name and
        peak allocated memory.
    RAISES (BenchmarkError): when the GPU cannot be used or the model cannot be loaded.
    """
    if runtime:  # read by the encoder at its first call, in this process and its workers
        os.environ[RUNTIME_VARIABLE] = runtime
    try:
        use_device(gpu_id)
        start = time.perf_counter()
        nlp = load_pipeline(model, require_fgen=False)  # any pipeline's speed
        load_seconds = time.perf_counter() - start
    except PipelineLoadError as err:
        raise BenchmarkError(str(err)) from None
    # With P > 1 the warm-up runs in workers as well: forked workers hang once the parent has
    # run the torch model (its thread pool does not survive fork), so the parent never runs it.
    for _ in nlp.pipe(texts[:WARMUP_TEXTS], batch_size=batch_size, n_process=n_process):
        pass
    _reap_workers()
    passes = [_timed_pass(nlp, texts, batch_size, n_process) for _ in range(repeats)]
    words_per_second = [p["words"] / p["seconds"] for p in passes]
    docs_per_second = [p["docs"] / p["seconds"] for p in passes]
    torch = sys.modules.get("torch")
    return {
        "batch_size": batch_size, "n_process": n_process, "runtime": runtime or "default", "skipped": None,
        "encoder_runs_on": encoder_runs_on(nlp),
        "docs": passes[0]["docs"], "words": passes[0]["words"],
        "seconds": [p["seconds"] for p in passes],
        "words_per_second": words_per_second, "docs_per_second": docs_per_second,
        "words_per_second_mean": statistics.mean(words_per_second),
        "docs_per_second_mean": statistics.mean(docs_per_second),
        "load_seconds": load_seconds,
        "peak_rss_mb": _peak_rss_mb(resource.RUSAGE_SELF),
        "peak_rss_worker_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN) if n_process > 1 else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "meta": {key: nlp.meta.get(key) for key in ("lang", "name", "version", "spacy_version")} | {"pipeline": nlp.pipe_names},
        **_gpu_stats(),
    }


def encoder_runs_on(nlp: spacy.language.Language) -> List[str]:
    """What each `fgen.encoder_features.v1` of the pipeline runs on in this process: "torch" or
    the stored ONNX variant ("fp32", "int8")."""
    from fgen.pipeline.layers.encoder_features import pipeline_features_nodes
    from fgen.pipeline.layers.onnx_encoder import active_variant

    return [active_variant(node) or "torch" for node in pipeline_features_nodes(nlp)]


def measure_reference(model: str, texts: List[str], batch_size: int, repeats: int) -> Dict[str, Any]:
    """Time the bare PyTorch fp32 forward of `model`'s encoder (its first
    `fgen.encoder_features.v1`) over whole `texts`, `batch_size` texts per call, after a warm-up.

    RETURNS (Dict[str, Any]): per-repeat seconds and words/s, their mean, and peak RSS (MB).
    RAISES (BenchmarkError): when the pipeline has no such encoder.
    """
    import torch

    from fgen.pipeline.layers.encoder_features import pipeline_features_nodes, torch_module

    try:
        nlp = load_pipeline(model, require_fgen=False)
    except PipelineLoadError as err:
        raise BenchmarkError(str(err)) from None
    nodes = pipeline_features_nodes(nlp)
    if not nodes:
        raise BenchmarkError(f"{model}: no fgen.encoder_features.v1 encoder for the reference")
    module, tokenizer = torch_module(nodes[0].layers[0]), nodes[0].layers[0].tokenizer
    module.eval()
    n_words = sum(count_words(doc) for doc in nlp.tokenizer.pipe(texts))
    limit = min(tokenizer.model_max_length, module.config.max_position_embeddings)

    def one_pass(batch: List[str]) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(batch), batch_size):
                module(**tokenizer(batch[i:i + batch_size], padding=True, truncation=True, max_length=limit, return_tensors="pt"))
        return time.perf_counter() - start

    one_pass(texts[:WARMUP_TEXTS])
    seconds = [one_pass(texts) for _ in range(repeats)]
    words_per_second = [n_words / s for s in seconds]
    return {"batch_size": batch_size, "words": n_words, "seconds": seconds, "words_per_second": words_per_second,
            "words_per_second_mean": statistics.mean(words_per_second), "peak_rss_mb": _peak_rss_mb(resource.RUSAGE_SELF),
            "torch_threads": torch.get_num_threads()}


def worker_main(spec_path: Path, result_path: Path) -> int:
    """Entry point of the measuring process: the spec (model, texts, setting) from a JSON file;
    the result, or {"error": "path: reason"}, to another."""
    spec = srsly.read_json(spec_path)
    try:
        texts = srsly.read_json(spec["texts_path"])
        if spec.get("reference"):
            result = measure_reference(spec["model"], texts, spec["batch_size"], spec["repeats"])
        else:
            result = measure(spec["model"], texts, spec["batch_size"], spec["n_process"], spec["repeats"], spec["gpu_id"], spec.get("runtime"))
    except BenchmarkError as err:
        srsly.write_json(result_path, {"error": str(err)})
        return 1
    srsly.write_json(result_path, result)
    return 0


def run_setting(model: str, texts_path: Path, batch_size: int, n_process: int, repeats: int, gpu_id: int,
                runtime: Optional[str] = None, reference: bool = False) -> Dict[str, Any]:
    """Measure one setting in a fresh Python process (this script with WORKER_FLAG).

    RAISES (BenchmarkError): the measurement's own error, or the process's last output line
        when it died without a result.
    """
    with tempfile.TemporaryDirectory(prefix="fgen-speed-") as tmp:
        spec, result = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        srsly.write_json(spec, {"model": model, "texts_path": str(texts_path), "batch_size": batch_size,
                                "n_process": n_process, "repeats": repeats, "gpu_id": gpu_id, "runtime": runtime,
                                "reference": reference})
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), WORKER_FLAG, str(spec), str(result)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.exists():
            out = srsly.read_json(result)
            if "error" in out:
                raise BenchmarkError(out["error"])
            return out
    last = next((line.strip() for line in reversed(proc.stdout.splitlines()) if line.strip()), "no output")
    raise BenchmarkError(f"{model}: the measuring process failed (exit {proc.returncode}: {last[:300]})")


def skipped(batch_size: int, n_process: int, reason: str) -> Dict[str, Any]:
    """The result entry of a setting that is not measured."""
    return {"batch_size": batch_size, "n_process": n_process, "skipped": reason}


# ---------------------------------------------------------------- report


def _mb(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0f}"


def report_table(results: List[Dict[str, Any]], reference: Optional[Dict[str, Any]] = None) -> str:
    """Markdown: one row per setting, mean ± std over repeats; with a `reference` (measure_reference)
    a row for it and each setting's words/s as a multiple of its words/s."""
    gpu = any("gpu_max_memory_mb" in r for r in results)
    runtimes = any(r.get("runtime", "default") != "default" for r in results)
    header = ["batch size", "processes", "words/s", "docs/s", "peak RSS (MB)", "peak RSS per worker (MB)", "load (s)"]
    header += ["GPU peak allocated (MB)"] if gpu else []
    header += ["encoder runtime"] if runtimes else []
    header += ["× bare encoder"] if reference else []
    rows = []
    for r in results:
        if r["skipped"]:
            row = [str(r["batch_size"]), str(r["n_process"]), f"skipped: {r['skipped']}"] + [""] * (len(header) - 3)
        else:
            row = [str(r["batch_size"]), str(r["n_process"]), mean_std(r["words_per_second"], 1.0, 0),
                   mean_std(r["docs_per_second"], 1.0, 1), _mb(r["peak_rss_mb"]), _mb(r["peak_rss_worker_mb"]),
                   f"{r['load_seconds']:.1f}"]
            row += [_mb(r.get("gpu_max_memory_mb"))] if gpu else []
            row += [r.get("runtime", "default")] if runtimes else []
            row += [f"{statistics.mean(r['words_per_second']) / statistics.mean(reference['words_per_second']):.2f}"] if reference else []
        rows.append(row)
    if reference:
        rows.append([str(reference["batch_size"]), "1", mean_std(reference["words_per_second"], 1.0, 0), "-",
                     _mb(reference["peak_rss_mb"]), "-", "-"] + (["-"] if gpu else []) +
                    (["bare PyTorch fp32 encoder"] if runtimes else []) + ["1.00"])
    return "\n".join(md_table(header, rows))


def model_label(meta: Dict[str, Any]) -> str:
    """`lang_name version` of a pipeline's meta, e.g. `en_fgen_pipeline 0.1.0`."""
    return f"{meta.get('lang')}_{meta.get('name')} {meta.get('version')}"


def report_section(summary: Dict[str, Any], table: str) -> str:
    """The speed section of docs/benchmarks.md: how it was measured, then the table."""
    device = f"GPU {summary['gpu_id']}: {summary['gpu_name']}" if summary["gpu_name"] else "CPU only"
    data = summary["data"]
    return (
        f"## Speed and memory of the pipeline\n\n"
        f"`{summary['command']}` — {summary['date']}, {summary['machine']}, {device}. "
        f"Pipeline `{model_label(summary['model'])}` ({', '.join(summary['model']['pipeline'])}); "
        f"{data['texts']} texts, {data['words']} words (non-space tokens) from `{data['path']}`. "
        f"Each setting in a fresh process: model load (timed apart), warm-up on {WARMUP_TEXTS} texts, then "
        f"`nlp.pipe` over all texts, mean ± std over {summary['repeats']} repeat(s). Peak RSS: the measuring "
        f"process (`ru_maxrss`, model and texts included); per worker: the largest `n_process` worker "
        f"(forked, so shared pages count in both).\n\n{table}\n"
    )


# ---------------------------------------------------------------- CLI


def runtimes_of(value: str) -> List[Optional[str]]:
    """The encoder runtimes of `--runtimes` (None: "default", the variable left unset).

    RAISES (BenchmarkError): for an unknown runtime.
    """
    names = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip())) or ["default"]
    unknown = [n for n in names if n != "default" and n not in RUNTIME_CHOICES]
    if unknown:
        raise BenchmarkError(f"--runtimes: unknown {', '.join(unknown)} (expected default, {', '.join(RUNTIME_CHOICES)})")
    return [None if n == "default" else n for n in names]


def has_encoder(model: str) -> bool:
    """Whether the pipeline's config names an `fgen.encoder_features.v1` (the reference's encoder)."""
    if not Path(model).exists() and not spacy.util.is_package(model):
        return False
    path = Path(model) if Path(model).exists() else spacy.util.get_package_path(model)
    config = next(Path(path).glob("**/config.cfg"), None)
    return config is not None and "fgen.encoder_features.v1" in config.read_text(encoding="utf8")


def settings_of(batch_sizes: str, n_processes: str, gpu_id: int) -> List[Tuple[int, int]]:
    """The (batch size, processes) settings of the options, processes-major.

    RAISES (BenchmarkError): for a bad option, or when on GPU no setting is left to measure.
    """
    numbers = parse_ints(n_processes, "--n-process")
    if gpu_id >= 0 and min(numbers) > 1:
        raise BenchmarkError(f"--n-process: nothing to measure on GPU ({GPU_MULTIPROCESS_NOTE}); add 1")
    return [(b, p) for p in numbers for b in parse_ints(batch_sizes, "--batch-sizes")]


def benchmark(model: str, texts_path: Path, settings: List[Tuple[int, int]], repeats: int, gpu_id: int,
              runtimes: Sequence[Optional[str]] = (None,)) -> List[Dict[str, Any]]:
    """Every setting measured (or skipped) with every runtime, one process after another, with a
    line of progress each."""
    results = []
    for (batch_size, n_process), runtime in [(setting, runtime) for setting in settings for runtime in runtimes]:
        if gpu_id >= 0 and n_process > 1:
            results.append(skipped(batch_size, n_process, GPU_MULTIPROCESS_NOTE))
            msg.warn(f"batch size {batch_size}, {n_process} processes: skipped ({GPU_MULTIPROCESS_NOTE})")
            continue
        r = run_setting(model, texts_path, batch_size, n_process, repeats, gpu_id, runtime)
        msg.text(f"batch size {batch_size}, {n_process} process(es), runtime {r['runtime']}: {mean_std(r['words_per_second'], 1.0, 0)} words/s, "
                 f"{mean_std(r['docs_per_second'], 1.0, 1)} docs/s, peak RSS {r['peak_rss_mb']:.0f} MB")
        results.append(r)
    return results


@app.command()
def main(
    model: str = typer.Argument(..., help="Installed pipeline package (e.g. en_fgen_pipeline) or pipeline folder"),
    data: Path = typer.Argument(..., help="Texts: .spacy (DocBin), .jsonl ({\"text\"} per line) or .txt (one per line)"),
    batch_sizes: str = typer.Option("1,8,32,128", "--batch-sizes", help="Comma-separated nlp.pipe batch sizes"),
    n_process: str = typer.Option("1,2", "--n-process", help="Comma-separated numbers of processes (CPU only beyond 1)"),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed passes over all texts per setting"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N texts"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU id, -1 for CPU"),
    report: Optional[Path] = typer.Option(None, "--report", help="Markdown file whose speed section is (re)written"),
    output: Optional[Path] = typer.Option(None, "--output", help="Raw results as JSON"),
    runtimes: str = typer.Option("default", "--runtimes", help="Comma-separated encoder runtimes (default, torch, onnx, onnx-int8)"),
    reference: bool = typer.Option(True, "--reference/--no-reference", help="Also time the bare PyTorch fp32 encoder forward (pipelines with an fgen encoder)"),
) -> None:
    """Measure words/s, docs/s and peak memory of MODEL on DATA per batch size and number of
    processes; print a table and record it."""
    try:  # everything that can be checked before the first (slow) measurement
        settings = settings_of(batch_sizes, n_process, gpu_id)
        chosen = runtimes_of(runtimes)
        texts = read_texts(data, limit)
        check_model(model)
    except BenchmarkError as err:
        msg.fail(str(err), exits=1)
    with tempfile.TemporaryDirectory(prefix="fgen-speed-") as tmp:
        texts_path = Path(tmp) / "texts.json"
        srsly.write_json(texts_path, texts)
        try:
            results = benchmark(model, texts_path, settings, repeats, gpu_id, chosen)
            bare = run_setting(model, texts_path, settings[0][0], 1, repeats, -1, reference=True) if reference and has_encoder(model) else None
        except BenchmarkError as err:
            msg.fail(str(err), exits=1)
    if bare is not None:
        msg.text(f"bare PyTorch fp32 encoder, batch size {bare['batch_size']}: {mean_std(bare['words_per_second'], 1.0, 0)} words/s")
    measured = [r for r in results if not r["skipped"]]
    first = measured[0]  # settings_of leaves at least one setting to measure
    summary = {
        "command": shlex.join(["python", "scripts/benchmark_speed.py", *sys.argv[1:]]),
        "date": date.today().isoformat(), "machine": machine(), "gpu_id": gpu_id, "gpu_name": first.get("gpu_name"),
        "model": {"argument": model, **first["meta"]},
        "data": {"path": str(data), "texts": len(texts), "words": first["words"]},
        "repeats": repeats, "results": results, "reference": bare,
    }
    table = report_table(results, bare)
    print(table)
    if output is not None:
        write_bytes_atomic(output, srsly.json_dumps(summary, indent=2).encode("utf8"))
    if report is not None:
        update_report(report, report_section(summary, table), MARKS)
        msg.good(f"Wrote the speed section of {report}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == WORKER_FLAG:
        sys.exit(worker_main(Path(sys.argv[2]), Path(sys.argv[3])))
    app()

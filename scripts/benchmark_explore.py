"""Benchmark of `fgen-explore`: real annotate output replicated with new ids to N statements (as
Parquet parts, like the Ray job's output), then the build rate and peak RSS, p95 query latency
from the library call and over HTTP, the same queries over the Parquet folder without an index,
and the index size and latency at several sizes, extrapolated to all of PubMed.

    python scripts/benchmark_explore.py SOURCE.jsonl WORKDIR [--sizes 250000,500000,1000000]
        [--repeats 20] [--pubmed-abstracts 36000000] [--distinct-groups] [--output results.json]

Plain copies repeat the source's statements, so the index holds only the source's few hundred
groups: the best case for the precomputed groups. `--distinct-groups` makes every copy's
perturbation texts its own (" c<k>" appended), so there are about as many groups as statements
and as many distinct texts to normalise: the worst case.

SOURCE: annotate's JSONL output (e.g. the PubMed sample annotated by `spacy project run explore`).
WORKDIR receives the replicated data and the indexes (several GB at 1M statements; deleted after).
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import typer

from fgen.explore.index import _JSON_COLUMNS, open_index, parquet_source
from fgen.explore.query import Filters, query_statements

CATEGORY_QUERIES = [
    {"perturbation": "rnai/knockdown"}, {"effect": "negative"}, {"phenotype": "autophagy"}, {"context": "cell line"},
    {"perturbation": "knockdown", "phenotype": "proliferation"}, {"effect": "positive", "min_abstracts": "2"},
]
TEXT_QUERIES = [{"text": "autophagy"}, {"text": "p53"}, {"text": "migration"}, {"text": "knockdown"}]
PARTS = 8


def replicate(source: Path, folder: Path, statements: int, distinct: bool = False) -> Dict[str, int]:
    """Parquet parts in `folder` holding copies of `source`'s records, each copy with new ids
    (`ID#k`) and, when `distinct`, its own perturbation texts, until `statements` statements;
    RETURNS records and statements written."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE src AS SELECT id::VARCHAR AS id, text, entities, links FROM read_json(?, format='newline_delimited', columns=?) WHERE len(links) > 0",
                [str(source), _JSON_COLUMNS])
    per_copy = con.execute("SELECT sum(len(links)) FROM src").fetchone()[0]
    copies = -(-statements // per_copy)
    folder.mkdir(parents=True, exist_ok=True)
    entities = "entities"
    if distinct:
        entities = ("list_transform(entities, lambda e: struct_pack(start := e.start, \"end\" := e.\"end\", text := CASE WHEN "
                    "e.label = 'PERTURBING_ACTION' THEN e.text || ' c' || k ELSE e.text END, label := e.label, value := e.value)) AS entities")
    for part in range(PARTS):
        ks = [k for k in range(copies) if k % PARTS == part]
        if not ks:
            continue
        con.execute(
            f"COPY (SELECT id || '#' || k AS id, 'replicated' AS source_file, text, {entities}, links, 'bench' AS model, '0' AS model_version "
            f"FROM src, (SELECT unnest(?::INTEGER[]) AS k) ORDER BY k, id) TO '{folder / f'part-{part}.parquet'}' (FORMAT parquet)", [ks])
    records = con.execute("SELECT count(*) FROM src").fetchone()[0] * copies
    return {"records": records, "statements": per_copy * copies, "copies": copies}


def _timed_build(index: Path, folder: Path) -> Dict[str, float]:
    """Build in a fresh child process: the build's wall time (imports excluded) and the child's peak RSS."""
    code = ("import sys, time, json, resource; from fgen.explore.index import build_index; t = time.perf_counter(); "
            "build_index(sys.argv[1], [sys.argv[2]]); print(json.dumps({'seconds': time.perf_counter() - t, "
            "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    done = subprocess.run([sys.executable, "-c", code, str(index), str(folder)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _p95(times: List[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] * 1000 if len(times) > 1 else times[0] * 1000


def _latencies(run, queries: List[Dict[str, str]], repeats: int) -> Dict[str, float]:
    times = []
    for params in queries:
        run(params)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            run(params)
            times.append(time.perf_counter() - start)
    return {"p95_ms": _p95(times), "median_ms": statistics.median(times) * 1000}


def _library(con: Any, repeats: int) -> Dict[str, Any]:
    run = lambda params: query_statements(con, Filters.from_params(params))  # noqa: E731
    return {"category": _latencies(run, CATEGORY_QUERIES, repeats), "text": _latencies(run, TEXT_QUERIES, repeats)}


def _http(index: Path, repeats: int) -> Dict[str, Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "fgen.explore", "serve", str(index), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api/statements?"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "limit=1", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        run = lambda params: urllib.request.urlopen(base + urllib.parse.urlencode(params), timeout=30).read()  # noqa: E731
        return {"category": _latencies(run, CATEGORY_QUERIES, repeats), "text": _latencies(run, TEXT_QUERIES, repeats)}
    finally:
        server.terminate()
        server.wait(10)


def main(
    source: Path = typer.Argument(..., help="annotate's JSONL output (real records)"),
    workdir: Path = typer.Argument(..., help="Scratch folder for the replicated data and indexes"),
    sizes: str = typer.Option("250000,500000,1000000", "--sizes", help="Statement counts, comma-separated; the last is the full run"),
    repeats: int = typer.Option(20, "--repeats", help="Timed runs of each query"),
    pubmed_abstracts: int = typer.Option(36_000_000, "--pubmed-abstracts", help="Abstracts in PubMed, for the extrapolation"),
    distinct_groups: bool = typer.Option(False, "--distinct-groups", help="Each copy's perturbations its own text (worst case)"),
    output: Path = typer.Option(None, "--output", help="Write the results as JSON here too"),
) -> None:
    """Measure fgen-explore at several sizes and print the results as JSON."""
    import duckdb

    con = duckdb.connect()
    n_records, n_statements = con.execute(
        "SELECT count(*), sum(len(links)) FROM read_json(?, format='newline_delimited', columns=?)", [str(source), _JSON_COLUMNS]).fetchone()
    results: Dict[str, Any] = {"source_records": n_records, "source_statements": int(n_statements), "cores": os.cpu_count(),
                               "distinct_groups": distinct_groups, "sizes": []}
    for size in [int(s) for s in sizes.split(",")]:
        folder, index = workdir / f"parquet-{size}", workdir / f"index-{size}.duckdb"
        shutil.rmtree(folder, ignore_errors=True)
        index.unlink(missing_ok=True)
        row: Dict[str, Any] = {"target": size, **replicate(source, folder, size, distinct_groups)}
        row["build"] = _timed_build(index, folder)
        row["build"]["statements_per_s"] = row["statements"] / row["build"]["seconds"]
        row["index_mb"] = index.stat().st_size / 2**20
        con_index = open_index(index)
        row["groups"] = con_index.execute("SELECT count(*) FROM statement_groups").fetchone()[0]
        con_index.close()
        row["parquet_mb"] = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        con_index = open_index(index)
        row["library"] = _library(con_index, repeats)
        con_index.close()
        row["http"] = _http(index, repeats)
        start = time.perf_counter()
        views = parquet_source(folder)
        row["parquet_views"] = {"open_s": time.perf_counter() - start, **_library(views, max(repeats // 4, 2))}
        views.close()
        results["sizes"].append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(folder)
        index.unlink()
    rate = n_statements / n_records
    pubmed_statements = rate * pubmed_abstracts
    (a, b) = results["sizes"][0], results["sizes"][-1]

    def grow(key):  # linear in statements, through the smallest and largest measured sizes (never shrinking)
        slope = max(key(b) - key(a), 0) / (b["statements"] - a["statements"])
        return key(b) + slope * (pubmed_statements - b["statements"])

    results["pubmed"] = {
        "statements_per_abstract": rate, "statements": pubmed_statements,
        "index_gb": grow(lambda r: r["index_mb"]) / 1024,
        "category_p95_ms": grow(lambda r: r["library"]["category"]["p95_ms"]),
        "text_p95_ms": grow(lambda r: r["library"]["text"]["p95_ms"]),
        "build_hours": pubmed_statements / b["build"]["statements_per_s"] / 3600,
    }
    print(json.dumps(results["pubmed"]), flush=True)
    if output:
        output.write_text(json.dumps(results, indent=1), encoding="utf8")


if __name__ == "__main__":
    typer.run(main)

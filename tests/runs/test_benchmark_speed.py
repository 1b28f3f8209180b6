"""scripts/benchmark_speed.py: data readers, options, the report table and the CLI end to end on a
tiny untrained pipeline (one fresh process per setting, so the CLI runs are kept to a few, with one
setting each). The CLI runs in this process (conftest.run_script); one failure is checked on a real
process too, for the exit code the script's `__main__` block gives."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from ..conftest import REPO, run_script, script_module

SCRIPT = REPO / "scripts" / "benchmark_speed.py"
TEXTS = [f"Knockdown of ATG{i} in UM cells inhibits tumorigenesis." for i in range(6)]


bench = script_module("benchmark_speed")  # the module the in-process CLI runs


def _run(*args: str):
    return run_script("benchmark_speed", *args)


def _run_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """A blank English pipeline with a sentencizer, saved to disk (nothing to train)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.meta.update({"name": "tiny_speed", "version": "0.0.1"})
    nlp.to_disk(tmp_path / "model")
    return tmp_path / "model"


def _docbin(path: Path, texts) -> Path:
    nlp = spacy.blank("en")
    DocBin(docs=[nlp(t) for t in texts]).to_disk(path)
    return path


# ---------------------------------------------------------------- readers and options


def test_read_texts_by_suffix(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text(f"{TEXTS[0]}\n\n   \n{TEXTS[1]}\n", encoding="utf8")  # blank lines left out
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS[:3]) + "\n", encoding="utf8")
    docbin = _docbin(tmp_path / "a.spacy", [TEXTS[2], " ", TEXTS[3]])
    assert bench.read_texts(txt) == TEXTS[:2]
    assert bench.read_texts(jsonl) == TEXTS[:3]
    assert bench.read_texts(docbin) == [TEXTS[2], TEXTS[3]]
    assert bench.read_texts(jsonl, limit=2) == TEXTS[:2]


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("missing.txt", None, "missing.txt: no such file"),
        ("a.csv", "text\n", "a.csv: unsupported data"),
        ("empty.txt", "\n\n", "empty.txt: no texts"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": 3}\n', 'bad.jsonl:2: "text" is a int'),
        ("bad.txt", b"fine\n\xff\xfe\n", "bad.txt:2: not UTF-8"),
        ("bad.spacy", b"not a docbin", "bad.spacy: not a readable DocBin"),
    ],
)
def test_read_texts_errors(tmp_path, name, content, reason):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf8")
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(bench.BenchmarkError) as err:
        bench.read_texts(path)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_settings_and_options():
    assert bench.settings_of("1,4,4", "1,2", -1) == [(1, 1), (4, 1), (1, 2), (4, 2)]
    with pytest.raises(bench.BenchmarkError, match="--batch-sizes"):
        bench.settings_of("1,x", "1", -1)
    with pytest.raises(bench.BenchmarkError, match="--n-process"):
        bench.settings_of("1", "0", -1)
    with pytest.raises(bench.BenchmarkError, match="nothing to measure on GPU"):
        bench.settings_of("1", "2", 0)


def test_check_model(tmp_path, tiny_model):
    bench.check_model(str(tiny_model))
    with pytest.raises(bench.BenchmarkError, match="no such pipeline folder or installed package"):
        bench.check_model("xx_no_such_pipeline")
    with pytest.raises(bench.BenchmarkError, match="no config.cfg"):
        bench.check_model(str(tmp_path))


def test_report_table_marks_skipped_settings():
    measured = {"batch_size": 8, "n_process": 1, "skipped": None, "words_per_second": [100.0, 110.0],
                "docs_per_second": [10.0, 11.0], "peak_rss_mb": 300.4, "peak_rss_worker_mb": None,
                "load_seconds": 1.26, "gpu_max_memory_mb": 512.0}
    table = bench.report_table([measured, bench.skipped(8, 2, bench.GPU_MULTIPROCESS_NOTE)]).splitlines()
    assert table[0].endswith("| GPU peak allocated (MB) |")
    assert table[2] == "| 8 | 1 | 105 ± 7 | 10.5 ± 0.7 | 300 | - | 1.3 | 512 |"
    assert f"skipped: {bench.GPU_MULTIPROCESS_NOTE}" in table[3]
    assert all(line.count("|") == table[0].count("|") for line in table)


# ---------------------------------------------------------------- CLI


def test_cli_measures_writes_json_and_replaces_report_section(tmp_path, tiny_model):
    txt = tmp_path / "texts.txt"
    txt.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    report, output = tmp_path / "benchmarks.md", tmp_path / "out" / "speed.json"
    report.write_text("# Benchmarks\n\nEarlier section.\n", encoding="utf8")
    args = ["--batch-sizes", "4", "--n-process", "1", "--repeats", "1", "--report", report, "--output", output]

    run = _run(tiny_model, txt, *args)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| batch size | processes | words/s |" in run.stdout
    out = json.loads(output.read_text(encoding="utf8"))
    assert out["command"].startswith("python scripts/benchmark_speed.py ")
    assert out["model"]["name"] == "tiny_speed" and out["model"]["version"] == "0.0.1"
    assert out["model"]["pipeline"] == ["sentencizer"]
    assert out["data"]["texts"] == len(TEXTS) and out["data"]["words"] == 9 * len(TEXTS)
    assert out["gpu_id"] == -1 and out["gpu_name"] is None and out["repeats"] == 1
    assert [(r["batch_size"], r["n_process"]) for r in out["results"]] == [(4, 1)]
    for r in out["results"]:
        assert r["skipped"] is None and r["docs"] == len(TEXTS) and r["words"] == 9 * len(TEXTS)
        assert len(r["words_per_second"]) == len(r["docs_per_second"]) == len(r["seconds"]) == 1
        assert r["words_per_second_mean"] > 0 and r["docs_per_second_mean"] > 0
        assert r["peak_rss_mb"] > 0 and r["peak_rss_worker_mb"] is None and r["load_seconds"] > 0
    text = report.read_text(encoding="utf8")
    assert text.startswith("# Benchmarks\n\nEarlier section.\n")
    section = text.split(bench.MARKS[0], 1)[1].split(bench.MARKS[1], 1)[0]
    assert "## Speed and memory of the pipeline" in section and "`en_tiny_speed 0.0.1`" in section
    assert f"{len(TEXTS)} texts, {9 * len(TEXTS)} words" in section and "CPU only" in section
    assert "| 4 | 1 |" in section

    # A rerun (other data format, one setting) replaces the section instead of appending one.
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(TEXTS[:3])) + "\n", encoding="utf8")
    run = _run(tiny_model, jsonl, *args[:1], "2", *args[2:])
    assert run.returncode == 0, run.stdout + run.stderr
    text = report.read_text(encoding="utf8")
    assert text.count(bench.MARKS[0]) == text.count(bench.MARKS[1]) == 1
    assert "Earlier section." in text and "3 texts, 27 words" in text and "| 4 | 1 |" not in text
    assert [r["batch_size"] for r in json.loads(output.read_text(encoding="utf8"))["results"]] == [2]


def test_cli_bad_data_or_model_exit_1(tmp_path, tiny_model):
    missing = tmp_path / "nope.jsonl"
    run = _run_process(tiny_model, missing, "--report", tmp_path / "r.md")  # a real process: its exit code
    assert run.returncode == 1
    assert f"{missing}: no such file" in run.stdout + run.stderr
    assert not (tmp_path / "r.md").exists()
    txt = tmp_path / "t.txt"
    txt.write_text(TEXTS[0] + "\n", encoding="utf8")
    run = _run(tmp_path / "no_model", txt)
    assert run.returncode == 1
    assert f"{tmp_path / 'no_model'}: no such pipeline folder or installed package" in run.stdout + run.stderr


# ---------------------------------------------------------------- encoder runtimes and the reference


def test_runtimes_and_the_reference_column():
    assert bench.runtimes_of("default,torch,onnx-int8,torch") == [None, "torch", "onnx-int8"]
    assert bench.runtimes_of("") == [None]
    with pytest.raises(bench.BenchmarkError, match="--runtimes: unknown tensorrt"):
        bench.runtimes_of("onnx,tensorrt")
    row = {"batch_size": 32, "n_process": 1, "skipped": None, "words_per_second": [300.0], "docs_per_second": [1.0],
           "peak_rss_mb": 900.0, "peak_rss_worker_mb": None, "load_seconds": 2.0}
    reference = {"batch_size": 32, "words_per_second": [200.0, 200.0], "peak_rss_mb": 800.0}
    table = bench.report_table([{**row, "runtime": "torch"}, {**row, "runtime": "onnx", "words_per_second": [500.0]}],
                               reference).splitlines()
    assert table[0].endswith("| encoder runtime | × bare encoder |")
    assert table[2].endswith("| torch | 1.50 |") and table[3].endswith("| onnx | 2.50 |")
    assert table[4] == "| 32 | 1 | 200 ± 0 | - | 800 | - | - | bare PyTorch fp32 encoder | 1.00 |"
    assert all(line.count("|") == table[0].count("|") for line in table)


def test_reference_and_runtime_on_a_tiny_encoder(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from fgen.pipeline.layers.encoder_features import pipeline_features_nodes, torch_module
    from fgen.pipeline.layers.onnx_encoder import ENV_VARIABLE, export_onnx, store_onnx

    from ..pipeline.layers.test_encoder_features import make_nlp
    from ..tiny_transformer import build_tiny_bert

    nlp = make_nlp(build_tiny_bert(tmp_path / "bert", TEXTS))
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    store_onnx(node, export_onnx(torch_module(node.layers[0]), int8=True))
    nlp.to_disk(tmp_path / "model")
    assert bench.has_encoder(str(tmp_path / "model")) and not bench.has_encoder(str(tmp_path / "none"))
    reference = bench.measure_reference(str(tmp_path / "model"), TEXTS, 4, 2)
    assert reference["words"] == 9 * len(TEXTS) and len(reference["words_per_second"]) == 2
    assert reference["words_per_second_mean"] > 0 and reference["peak_rss_mb"] > 0
    monkeypatch.setenv(ENV_VARIABLE, "auto")  # measure sets it for its process: setenv restores it after the test (delenv of an unset variable would not)
    for runtime, runs_on in ((None, ["fp32"]), ("torch", ["torch"]), ("onnx-int8", ["int8"])):
        result = bench.measure(str(tmp_path / "model"), TEXTS, 4, 1, 1, runtime=runtime)
        assert result["runtime"] == (runtime or "default") and result["encoder_runs_on"] == runs_on
        assert result["words"] == 9 * len(TEXTS)

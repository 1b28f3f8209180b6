"""The packaged pipeline: one wheel that carries the pipeline and all of fgen's code.

Fast checks build the wheel from the saved fixture pipeline, look inside it and run it from its
own copy of fgen (`pip install --target`, no dependencies re-installed). The full check, one
`pip install` into a fresh virtualenv outside the repository, takes minutes and is marked
`slow`: `pytest -m slow tests/test_package.py`.
"""
import json
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from fgen.install_check import DISTRIBUTION, editable_install, foreign_fgen_problem, shadowing_problem

from .conftest import REPO, TEXT, V2_CATEGORIES, V2_VALUES, mae_xml, offsets, run_script, script_module, v2_tags
from .test_train_smoke import run, train

FIXTURES = Path(__file__).parent / "fixtures"
USE_PACKAGE = """
import json, spacy
nlp = spacy.load("en_fgen_pipeline")
doc = nlp(__import__("sys").argv[1])
import fgen
print(json.dumps({
    "pipeline": nlp.pipe_names,
    "fgen_from": fgen.__file__,
    "ents": [[e.start_char, e.end_char, e.label_, e.kb_id_] for e in doc.spans["fgen"]],
    "links": [sorted(link) for link in doc._.links],
    "scores": doc._.link_scores,
}))
"""
# `python -m fgen.annotate` as the wheel installs it, MAE output without --definitions, outside the repository
ANNOTATE_WITH_PACKAGE = """
import json, pathlib, runpy, sys
pathlib.Path("in.jsonl").write_text(json.dumps({"id": "a1", "text": sys.argv[1]}) + "\\n")
sys.argv = ["fgen.annotate", "en_fgen_pipeline", "in.jsonl", "mae_out"]
try:
    runpy.run_module("fgen.annotate", run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(p.name for p in pathlib.Path("mae_out").iterdir())))
"""


def write_definitions(folder: Path) -> Path:
    """The V2 scheme definition files of the tests' corpus, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tag_categories_v2.json").write_text(json.dumps(V2_CATEGORIES))
    (folder / "tag_list_definitions_v2.json").write_text(json.dumps(V2_VALUES))
    return folder


def build_wheel(model: Path, output: Path, *metrics: Path) -> Path:
    given = [arg for path in metrics for arg in ("--metrics", path)]
    run(REPO / "scripts" / "package.py", model, output, "--version", "0.0.1", "--definitions", write_definitions(output / "defs"), *given)
    wheels = list(output.glob("en_fgen_pipeline-0.0.1-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def evaluate_fixture(root: Path) -> Path:
    """scripts/evaluate.py's metrics of the fixture pipeline on one gold abstract (converted from
    MAE), which it partly gets wrong: it misses the second "Overexpression of ZNNT1"."""
    text = json.loads((FIXTURES / "pipeline_0_1_0_predictions.json").read_text())["text"]
    mae = root / "V2 Marked and Linked Entities" / "1_PMID111111.txt_CC2.xml"
    mae.parent.mkdir(parents=True)
    missed = (f'<PERTURBING_ACTION id="P9" spans="{offsets(text, "Overexpression of ZNNT1", 1)}" '
              'text="Overexpression of ZNNT1" perturbingaction="gene gain-of-function" />')
    mae.write_text(mae_xml(text, v2_tags(text) + "\n" + missed), encoding="utf8")
    defs = write_definitions(root / "defs")
    converted = run_script("convert", mae.parent, root / "dev.spacy", "--definitions", defs)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    evaluated = run_script("evaluate", FIXTURES / "pipeline_0_1_0", root / "dev.spacy", "--output", root / "metrics_dev.json", "--definitions", defs)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    return root / "metrics_dev.json"


# The tests that use the wheel run on one xdist worker, so it is built once.
uses_wheel = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def fixture_metrics(tmp_path_factory) -> Path:
    return evaluate_fixture(tmp_path_factory.mktemp("evaluation"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, fixture_metrics: Path) -> Path:
    return build_wheel(FIXTURES / "pipeline_0_1_0", tmp_path_factory.mktemp("packages"), fixture_metrics)


@uses_wheel
def test_wheel_meta_holds_the_shipped_pipelines_own_evaluation(wheel: Path, fixture_metrics: Path):
    metrics = json.loads(fixture_metrics.read_text())
    scores = {k: v for k, v in metrics["scores"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert 0 < scores["ents_r"] < 1 and "words_category_f" in scores  # a real evaluation, not the training score
    archive = zipfile.ZipFile(wheel)
    metas = [n for n in archive.namelist() if n.startswith("en_fgen_pipeline/") and n.endswith("/meta.json")]
    assert len(metas) == 2  # the package's (spacy.load reads it) and the pipeline folder's copy
    for name in metas:
        meta = json.loads(archive.read(name))
        assert meta["performance"] == scores, name
        assert meta["evaluation"] == [{"data": metrics["data"], "docs": 1, "scheme": "v2", "entities": "predicted",
                                       "performance_keys": sorted(scores)}]
    readme = archive.read(next(n for n in archive.namelist() if n.endswith("/README.md"))).decode("utf8")
    assert f"| `ents_r` | {100 * scores['ents_r']:.2f} |" in readme and "loss" not in readme.lower()


@uses_wheel
def test_wheel_model_card_agrees_with_the_pipeline(wheel: Path):
    """The acceptance check of the card: the wheel's meta and README name the pipeline's own
    labels and values, its own evaluation, the recipe's CV beside annotator agreement, a licence
    and the sources, with authors from pyproject.toml."""
    import spacy
    from fgen.runs.model_card import CORPUS_REPOSITORY, cv_table, load_results

    nlp = spacy.load(FIXTURES / "pipeline_0_1_0")
    scheme = {category: [] for category in nlp.get_pipe("fgen_ner").labels}
    for label in nlp.get_pipe("fgen_values").labels:
        scheme[label.split("=")[0]].append(label.split("=", 1)[1])
    archive = zipfile.ZipFile(wheel)
    package_meta = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/meta.json"))
    meta = json.loads(archive.read(package_meta))
    # the pipeline folder's README.md and the package's description (setup.py reads its README)
    readmes = [archive.read(n).decode("utf8") for n in archive.namelist() if n.endswith(("/README.md", ".dist-info/METADATA"))]
    assert meta["label_scheme"] == scheme and len(scheme) == 4 and all(scheme.values())
    assert meta["pipeline"] == nlp.pipe_names and meta["version"] == "0.0.1"
    assert meta["license"].startswith("MIT") and meta["author"] == "fgen maintainers"
    assert CORPUS_REPOSITORY in [source["url"] for source in meta["sources"]]
    assert meta["cross_validation"] == load_results(REPO / "docs" / "results.json")["cross_validation"]
    assert len(readmes) == 2
    for readme in readmes:
        for category, values in scheme.items():
            assert f"- **{category}**: {', '.join(values)}" in readme
        for key, value in meta["performance"].items():
            assert key == "speed" or f"| `{key}` | {100 * value:.2f} |" in readme
        assert cv_table(meta["cross_validation"]) in readme and meta["license"] in readme
        assert all(source["url"] in readme for source in meta["sources"]) and meta["citation"] in readme


def test_package_refuses_metrics_of_another_model(fixture_metrics: Path, tmp_path: Path):
    other = json.loads(fixture_metrics.read_text())
    other["model_fingerprint"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = run_script("package", FIXTURES / "pipeline_0_1_0", tmp_path / "out", "--metrics", fixture_metrics,
                        "--metrics", tmp_path / "other.json")
    assert result.returncode == 1
    assert "other.json: metrics of another model" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is built


def test_package_meta_without_metrics_has_no_performance(tmp_path: Path):
    package = script_module("package")
    main_path, data_dir = tmp_path / "en_fgen_pipeline-0.0.1", tmp_path / "en_fgen_pipeline-0.0.1" / "en_fgen_pipeline" / "en_fgen_pipeline-0.0.1"
    data_dir.mkdir(parents=True)
    meta = json.loads((FIXTURES / "pipeline_0_1_0" / "meta.json").read_text())
    assert meta["performance"]["ents_f"] > 0  # training's score, in the trained folder
    for path in (main_path / "meta.json", data_dir / "meta.json"):
        path.write_text(json.dumps(meta))
    for folder in (main_path, data_dir):
        (folder / "README.md").write_text("### Accuracy\n| `ENTS_F` | 100.00 |")
    package.ship_meta(main_path, data_dir, meta, None, json.loads((REPO / "docs" / "results.json").read_text()), None)
    for folder in (main_path, data_dir):
        assert "performance" not in json.loads((folder / "meta.json").read_text())
        readme = (folder / "README.md").read_text()
        assert "ENTS_F" not in readme and "`ents_f`" not in readme and "No evaluation of this very pipeline" in readme


@uses_wheel
def test_wheel_carries_every_module_and_entry_point(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"fgen/{p.relative_to(REPO / 'components').as_posix()}" for p in (REPO / "components").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    assert any(p.name == "__init__.py" and p.parent != REPO / "components" for p in (REPO / "components").rglob("*.py"))
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode("utf8")
    for name in ("fgen_ner", "fgen_values", "fgen_links", "fgen.labels_from_definitions.v1", "fgen.run_logger.v1"):
        assert name in text
    assert "[console_scripts]\nfgen-annotate = fgen.annotate.cli:app" in text  # the command without the repository
    shipped = {n.rsplit("/", 1)[1] for n in names if "/definitions/" in n}
    assert shipped == {"tag_categories_v2.json", "tag_list_definitions_v2.json"}  # MAE output without --definitions
    # `pip install 'en_fgen_pipeline-....whl[distributed]'` brings Ray, pinned as in pyproject.toml
    wheel_meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf8")
    assert "Provides-Extra: distributed" in wheel_meta
    assert re.search(r"Requires-Dist: ray\[(client,data|data,client)\][^\n]*2\.60[^\n]*extra == .distributed.", wheel_meta)


@uses_wheel
def test_wheel_runs_from_its_own_copy_of_fgen(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    expected = json.loads((FIXTURES / "pipeline_0_1_0_predictions.json").read_text())
    # one interpreter for both: the pipeline used in Python, then `python -m fgen.annotate`
    used = subprocess.run([sys.executable, "-c", USE_PACKAGE + ANNOTATE_WITH_PACKAGE, expected["text"]], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(target), "HOME": str(tmp_path)}, timeout=300)
    assert used.returncode == 0, used.stdout[-2000:] + used.stderr[-3000:]
    lines = used.stdout.strip().splitlines()
    facts = json.loads(next(line for line in lines if line.startswith('{"pipeline"')))
    assert facts["fgen_from"].startswith(str(target))  # the wheel's copy, not the repository's
    assert facts["pipeline"] == ["tok2vec", "fgen_ner", "fgen_values", "fgen_links"]
    assert facts["ents"] == [e[:4] for e in expected["ents"]]
    assert json.loads(lines[-1]) == [".fgen-output.json", "a1.xml"]


@pytest.mark.skipif(editable_install() is None, reason="fgen is not installed in editable mode here")
def test_wheel_copy_in_the_development_env_is_refused():
    source, site = editable_install()
    problem = shadowing_problem(site / "fgen")
    assert problem and "pip uninstall en_fgen_pipeline" in problem and str(source) in problem
    assert shadowing_problem(source / "components") is None
    assert shadowing_problem(Path("/somewhere/else/fgen")) is None


# A bare `fgen` on PyPI is someone else's package (a Fortran wrapper generator) whose wheel ships
# a top-level `fgen/` of its own.
BARE_FGEN_INSTALL = re.compile(r"pip install\s+(-\S+\s+)*['\"]?fgen(\[|['\"\s]|$)", re.MULTILINE)
FOREIGN_METADATA = "Metadata-Version: 2.1\nName: fgen\nVersion: 0.6.1\nSummary: Automatically generate wrapper to integrate Fortran and Python\n"


def test_no_instruction_installs_the_bare_name_fgen():
    assert metadata.distribution(DISTRIBUTION).metadata["Name"] == DISTRIBUTION  # the project's own, installed
    texts = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "components").rglob("*.py"), *(REPO / "scripts").glob("*")]
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in texts if p.is_file() for m in BARE_FGEN_INSTALL.finditer(p.read_text(encoding="utf8"))]
    assert found == []


def test_a_foreign_fgen_distribution_is_refused_with_a_clear_message(tmp_path):
    site = tmp_path / "site"
    (site / "fgen-0.6.1.dist-info").mkdir(parents=True)
    (site / "fgen-0.6.1.dist-info" / "METADATA").write_text(FOREIGN_METADATA)
    problem = foreign_fgen_problem([str(site)])
    assert problem and "fgen 0.6.1" in problem and "Automatically generate wrapper" in problem
    assert "pip uninstall fgen" in problem and str(site) in problem
    assert foreign_fgen_problem([str(tmp_path / "empty")]) is None
    # `import fgen` itself says so, in a fresh process with the foreign distribution on its path
    result = subprocess.run([sys.executable, "-c", "import fgen"], capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "ImportError: another package named fgen" in result.stderr, result.stderr[-2000:]


@pytest.mark.slow
def test_wheel_installs_and_loads_in_a_fresh_venv(corpus, tmp_path):  # noqa: F811
    """The wheel's dependencies come from the registries/pip cache, constrained to requirements.txt."""
    model = train("pipeline_cnn.cfg", tmp_path / "run", corpus / "train.spacy")
    wheel = build_wheel(model / "model-last", tmp_path / "packages")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel), "-c", str(REPO / "requirements.txt")],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # Run outside the repository, with nothing of it on the path.
    used = subprocess.run([str(python), "-c", USE_PACKAGE, TEXT], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": str(venv / "bin"), "HOME": str(tmp_path)}, timeout=300)
    assert used.returncode == 0, used.stderr[-3000:]
    facts = json.loads(used.stdout.strip().splitlines()[-1])
    assert facts["pipeline"] == ["tok2vec", "fgen_ner", "fgen_values", "fgen_links"]
    assert facts["fgen_from"].startswith(str(venv))
    assert len(facts["scores"]) == len(facts["links"])
    assert all(links == ["CONTEXT", "EFFECT", "PERTURBING_ACTION", "PHENOTYPE"] for links in facts["links"])
    (tmp_path / "in.txt").write_text(TEXT.replace("\n", " ") + "\n")
    command = subprocess.run([str(venv / "bin" / "fgen-annotate"), "en_fgen_pipeline", "in.txt", "mae_out"], capture_output=True,
                             text=True, cwd=tmp_path, env={"PATH": str(venv / "bin"), "HOME": str(tmp_path)}, timeout=300)
    assert command.returncode == 0, command.stdout[-2000:] + command.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "mae_out").iterdir()) == [".fgen-output.json", "in_1.xml"]

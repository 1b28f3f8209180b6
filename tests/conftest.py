"""Shared fixtures: a tiny corpus on disk, shaped like the upstream one, written by the tests."""
import contextlib
import importlib.util
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator

import pytest
from typer.testing import CliRunner

# Tiny models and 2 cores: intra-op threads only add synchronisation (and stall badly when other
# processes share the cores). Set before torch starts; `spacy train` subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import fgen  # noqa: F401  registers the Doc extensions
from fgen.corpus.schemes import load_scheme

REPO = Path(__file__).resolve().parents[1]
REAL_CORPUS = REPO.parent / "shared" / "fgen-corpus"

V2_CATEGORIES = {
    "PERTURBING_ACTION": {"entity_linking_field": "@perturbing_actionID", "fields": {"perturbing_action": {"mae_field": "@perturbingaction"}}},
    "CONTEXT": {"entity_linking_field": "@contextID", "fields": {"context": {"mae_field": "@context"}}},
    "EFFECT": {"entity_linking_field": "@effectID", "fields": {"effect": {"mae_field": "@effect"}}},
    "PHENOTYPE": {"entity_linking_field": "@phenotypeID", "fields": {"phenotype": {"mae_field": "@phenotype"}}},
}
V2_VALUES = {
    "category": list(V2_CATEGORIES),
    "perturbing_action": ["-", "gene gain-of-function", "rnai/knockdown"],
    "context": ["-", "cells", "transformed cells"],
    "effect": ["-", "positive", "negative"],
    "phenotype": ["-", "autophagy", "tumourigenesis", "migration"],
}
V1_CATEGORIES = {
    "PERTURBING_ACTION": {"entity_linking_field": "@perturbing_actionID", "fields": {"description": {"mae_field": "@description"}}},
    "CONTEXT": {
        "entity_linking_field": "@contextID",
        "fields": {"experiment_type": {"mae_field": "@experiment_type"}, "species": {"mae_field": "@species"}},
    },
    "EFFECT": {
        "entity_linking_field": "@effectID",
        "fields": {"phenotype": {"mae_field": "@phenotype"}, "activity": {"mae_field": "@activity"}},
    },
}
V1_VALUES = {
    "category": list(V1_CATEGORIES),
    "description": ["knock down", "increased expression level"],
    "experiment_type": ["transformed cell line", "tumour"],
    "species": ["human", "not stated"],
    "phenotype": ["autophagy", "migration", "tumourigenesis"],
    "activity": ["inhibits", "decreases", "increases"],
}


@pytest.fixture(scope="session", autouse=True)
def run_history(tmp_path_factory) -> Iterator[Path]:
    """Training runs of the tests record themselves here, not in the project's training/runs.jsonl
    (fgen.run_logger.v1 reads FGEN_RUN_HISTORY; `spacy train` subprocesses inherit it)."""
    path = tmp_path_factory.getbasetemp() / "runs.jsonl"
    previous = os.environ.get("FGEN_RUN_HISTORY")
    os.environ["FGEN_RUN_HISTORY"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("FGEN_RUN_HISTORY", None)
    else:
        os.environ["FGEN_RUN_HISTORY"] = previous


# The three-doc corpus of test_train_smoke and the `spacy train` runs on it that several test
# modules read (test_train_smoke, runs/test_run_history, runs/test_report): made once per test
# session. The modules that use them share one xdist group (SMOKE_RUNS), so one worker makes
# them once. Read-only for the tests.
SMOKE_RUNS = "smoke_runs"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A corpus folder: the V2 definition files, three MAE files (linked, entities only, none)
    and their DocBin train.spacy, made by scripts/convert.py."""
    from .test_train_smoke import write_smoke_corpus

    root = tmp_path_factory.mktemp("smoke") / "corpus"
    raw = write_smoke_corpus(root)
    result = run_script("convert", raw, root / "train.spacy", "--scheme", "v2")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _logged_run(config: str, corpus: Path, root: Path, name: str) -> Dict[str, Any]:
    """`spacy train configs/<config>` for 10 steps (evaluated every 5) on the smoke corpus into
    <root>/<name> (the run's name in the history), recording itself alone in the history
    <root>/runs.jsonl."""
    from fgen.runs.run_logger import HISTORY_ENV

    from .test_train_smoke import train_process

    out, history = root / name, root / "runs.jsonl"
    result = train_process(config, out, corpus / "train.spacy", env={HISTORY_ENV: str(history)})
    return {"out": out, "history": history, "stdout": result.stdout, "corpus": corpus}


@pytest.fixture(scope="session")
def logged_ner_run(corpus, tmp_path_factory) -> Dict[str, Any]:
    """configs/ner_cnn.cfg trained on the smoke corpus: the run folder ("out", named ner_run), its
    history, the process's stdout and the corpus."""
    return _logged_run("ner_cnn.cfg", corpus, tmp_path_factory.mktemp("ner"), "ner_run")


@pytest.fixture(scope="session")
def logged_pipeline_run(corpus, tmp_path_factory) -> Dict[str, Any]:
    """configs/pipeline_cnn.cfg trained on the smoke corpus, as logged_ner_run (named pipeline_run)."""
    return _logged_run("pipeline_cnn.cfg", corpus, tmp_path_factory.mktemp("pipeline"), "pipeline_run")


def tiny_tok2vec(embed_size: int = 300) -> dict:
    """A small HashEmbedCNN config, so component tests stay fast on 2 CPU cores."""
    return {
        "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 32, "depth": 1,
        "embed_size": embed_size, "window_size": 1, "maxout_pieces": 2, "subword_features": True,
    }


TEXT = (
    "Overexpression of ZNNT1 promotes autophagy in UM cells, whereas knockdown of\n"
    "ZNNT1 attenuates PP242-induced autophagy. Overexpression of ZNNT1 inhibits migration."
)


def offsets(text: str, piece: str, nth: int = 0) -> str:
    """`start~end` of the nth occurrence of `piece` in `text`."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(piece, start + 1)
    return f"{start}~{start + len(piece)}"


def mae_xml(text: str, tags: str, root: str = "Genomics_ConceptTask") -> str:
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n\n<{root}>\n<TEXT><![CDATA[{text}]]></TEXT>\n<TAGS>\n{tags}\n</TAGS>\n</{root}>\n'


def v2_tags(text: str = TEXT) -> str:
    o = lambda piece, nth=0: offsets(text, piece, nth)  # noqa: E731
    return "\n".join(
        [
            f'<PERTURBING_ACTION id="P0" spans="{o("Overexpression of ZNNT1")}" text="Overexpression of ZNNT1" perturbingaction="gene gain-of-function" />',
            f'<PERTURBING_ACTION id="P1" spans="{o("knockdown of" + chr(10) + "ZNNT1")}" text="knockdown of ZNNT1" perturbingaction="rnai/knockdown" />',
            f'<CONTEXT id="C0" spans="{o("UM cells")}" text="UM cells" context="transformed cells" />',
            f'<EFFECT id="E0" spans="{o("promotes")}" text="promotes" effect="positive" />',
            f'<EFFECT id="E1" spans="{o("attenuates")}" text="attenuates" effect="negative" />',
            f'<EFFECT id="E2" spans="{o("induced")}" text="induced" effect="positive" />',
            f'<EFFECT id="E3" spans="{o("inhibits")}" text="inhibits" effect="negative" />',
            f'<PHENOTYPE id="PH0" spans="{o("autophagy")}" text="autophagy" phenotype="autophagy" />',
            f'<PHENOTYPE id="PH1" spans="{o("autophagy", 1)}" text="autophagy" phenotype="autophagy" />',
            f'<PHENOTYPE id="PH2" spans="{o("migration")}" text="migration" phenotype="migration" />',
            '<ENTITY_LINKING id="EN0" perturbing_actionID="P0" perturbing_actionText="Overexpression of ZNNT1" '
            'contextID="C0" contextText="UM cells" effectID="E0" effectText="promotes" phenotypeID="PH0" phenotypeText="autophagy" />',
            '<ENTITY_LINKING id="EN1" perturbing_actionID="P0" perturbing_actionText="Overexpression of ZNNT1" '
            'contextID="C0" contextText="UM cells" effectID="E3" effectText="inhibits" phenotypeID="PH2" phenotypeText="migration" />',
        ]
    )


def v1_tags(text: str = TEXT) -> str:
    o = lambda piece, nth=0: offsets(text, piece, nth)  # noqa: E731
    return "\n".join(
        [
            f'<PERTURBING_ACTION id="P0" spans="{o("Overexpression of ZNNT1")}" text="Overexpression of ZNNT1" description="increased expression level" />',
            f'<PERTURBING_ACTION id="P1" spans="{o("knockdown of" + chr(10) + "ZNNT1")}" text="knockdown of ZNNT1" description="knock down" />',
            f'<CONTEXT id="C0" spans="{o("UM cells")}" text="UM cells" experiment_type="transformed cell line" species="not stated" />',
            # discontinuous, and overlapping E2 below
            f'<EFFECT id="E0" spans="{o("attenuates")},{o("autophagy", 1)}" text="attenuates ... autophagy" phenotype="autophagy" activity="decreases" />',
            f'<EFFECT id="E1" spans="{o("promotes autophagy")}" text="promotes autophagy" phenotype="autophagy" activity="increases" />',
            f'<EFFECT id="E2" spans="{o("induced autophagy")}" text="induced autophagy" phenotype="autophagy" activity="increases" />',
            '<ENTITY_LINKING id="EN0" perturbing_actionID="P1" perturbing_actionText="knockdown of ZNNT1" '
            'contextID="C0" contextText="UM cells" effectID="E0" effectText="attenuates ... autophagy" />',
        ]
    )


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A corpus folder with definition files and V2/V1 MAE files in upstream-style folders."""
    root = tmp_path / "corpus"
    raw = root / "raw_data"
    (root).mkdir()
    (root / "tag_categories_v2.json").write_text(json.dumps(V2_CATEGORIES))
    (root / "tag_list_definitions_v2.json").write_text(json.dumps(V2_VALUES))
    (root / "tag_categories.json").write_text(json.dumps(V1_CATEGORIES))
    (root / "tag_list_definitions.json").write_text(json.dumps(V1_VALUES))
    files = {
        "V2 Marked and Linked Entities/1_PMID111111.txt_CC2.xml": mae_xml(TEXT, v2_tags()),
        "V2 Marked Entities No Linking/2_PMID222222.txt_CC2.xml": mae_xml(TEXT, v2_tags().split("\n<ENTITY_LINKING")[0]),
        "V2 No Marked Entities/3_PMID333333.txt_CC2.xml": mae_xml("Nothing to see here.", ""),
        "Marked and Linked Entities/1_PMID111111.txt_CC.xml": mae_xml(TEXT, v1_tags()),
    }
    for name, content in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(content, encoding="utf8")
    return root


@pytest.fixture
def v2_scheme(tiny_corpus: Path):
    return load_scheme(tiny_corpus, "v2")


@pytest.fixture
def v1_scheme(tiny_corpus: Path):
    return load_scheme(tiny_corpus, "v1")


# ---------------------------------------------------------------- scripts run in this process


@dataclass
class ScriptResult:
    """What `subprocess.run([python, script, *args], capture_output=True, text=True)` gives the tests."""

    returncode: int
    stdout: str
    stderr: str


_SCRIPT_MODULES: Dict[str, ModuleType] = {}


def script_module(name: str) -> ModuleType:
    """scripts/NAME.py imported as a module (once per test process)."""
    if name not in _SCRIPT_MODULES:
        spec = importlib.util.spec_from_file_location(f"fgen_test_script_{name}", REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPT_MODULES[name] = module
    return _SCRIPT_MODULES[name]


def run_script(name: str, *args: Any) -> ScriptResult:
    """Run the typer CLI of scripts/NAME.py in this process with typer's CliRunner, as
    `python scripts/NAME.py ARGS` from the repository root would run (sys.argv and the working
    directory set alike), without the seconds a fresh interpreter spends importing spaCy and torch.
    Exit code, stdout and stderr come back as from a subprocess; an uncaught exception (exit 1 in a
    real process) is appended to stderr as its traceback. Tests about a fresh process itself (entry
    points, the `__main__` block's exit code) still start one."""
    module = script_module(name)
    argv = [str(arg) for arg in args]
    saved_argv = sys.argv
    sys.argv = [str(Path("scripts") / f"{name}.py"), *argv]
    try:
        with contextlib.chdir(REPO):
            result = CliRunner().invoke(module.app, argv, prog_name=f"{name}.py")
    finally:
        sys.argv = saved_argv
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return ScriptResult(result.exit_code, result.stdout, stderr)

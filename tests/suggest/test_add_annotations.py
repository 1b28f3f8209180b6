"""scripts/add_annotations.py (fgen.suggest.additions): new MAE files join the project's corpus
folder once per PMID; versions that differ from the corpus or an earlier addition are reported."""
from pathlib import Path

import pytest

from fgen.corpus.conversion import convert_paths
from fgen.corpus.schemes import load_scheme
from fgen.corpus.tokenizer import make_nlp

from ..conftest import TEXT, mae_xml, run_script, v2_tags

ENTITIES_ONLY = v2_tags().split("\n<ENTITY_LINKING")[0]


@pytest.fixture
def setup(tiny_corpus: Path, tmp_path: Path):
    raw = tiny_corpus / "raw_data"
    corpus = [raw / "V2 Marked and Linked Entities", raw / "V2 Marked Entities No Linking", raw / "V2 No Marked Entities"]
    new = tmp_path / "new"
    new.mkdir()
    files = {
        "5_PMID444444.txt_AB.xml": mae_xml(TEXT, ENTITIES_ONLY),  # new
        "1_PMID111111.txt_AB.xml": mae_xml(TEXT, v2_tags()),  # the corpus's version again
        "2_PMID222222.txt_AB.xml": mae_xml(TEXT, v2_tags()),  # the corpus has it without statements
        "notes.xml": mae_xml(TEXT, ""),  # no PMID
    }
    for name, content in files.items():
        (new / name).write_text(content, encoding="utf8")
    args = [arg for folder in corpus for arg in ("--corpus", folder)] + ["--definitions", tiny_corpus]
    return {"new": new, "added": tmp_path / "added", "args": args, "scheme": load_scheme(tiny_corpus, "v2")}


def add(setup, *extra):
    return run_script("add_annotations", setup["new"], "--added", setup["added"], *setup["args"], *extra)


def test_conflicts_are_reported_and_nothing_written_until_asked(setup):
    result = add(setup)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "5_PMID444444.txt_AB.xml: new" in out and "1_PMID111111.txt_AB.xml: same" in out
    assert "2_PMID222222.txt_AB.xml: conflict" in out and "2_PMID222222.txt_CC2.xml" in out
    assert "notes.xml: invalid" in out
    assert not setup["added"].exists() or not list(setup["added"].iterdir())
    result = add(setup, "--skip-problems")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in setup["added"].iterdir()] == ["5_PMID444444.txt_AB.xml"]
    # the added folder converts with the corpus: one doc more, its PMID's
    converted = convert_paths([setup["added"]], setup["scheme"], make_nlp())
    assert [d._.provenance["pmid"] for d in converted.docs] == ["444444"] and len(converted.docs[0].ents) == 10


def test_a_correction_of_an_earlier_addition_needs_replace(setup, tmp_path):
    assert add(setup, "--skip-problems").returncode == 0
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    (corrected / "5_PMID444444.txt_AB_2.xml").write_text(mae_xml(TEXT, ENTITIES_ONLY.split("\n")[0]), encoding="utf8")
    args = ["--added", setup["added"], *setup["args"]]
    again = run_script("add_annotations", setup["new"] / "5_PMID444444.txt_AB.xml", *args)
    assert again.returncode == 0 and "same" in again.stdout
    refused = run_script("add_annotations", corrected, *args)
    assert refused.returncode == 1 and "conflict" in refused.stdout and "--replace" in refused.stdout
    replaced = run_script("add_annotations", corrected, *args, "--replace")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert [p.name for p in setup["added"].iterdir()] == ["5_PMID444444.txt_AB_2.xml"]
    converted = convert_paths([setup["added"]], setup["scheme"], make_nlp())
    assert len(converted.docs[0].ents) == 1

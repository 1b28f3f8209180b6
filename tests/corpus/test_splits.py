"""Tests of fgen.corpus.splits and scripts/split.py on tiny hand-made Docs (plus one real-corpus check).

The CLIs run in this process (conftest.run_script); one usage error is checked on a real process
too, for the exit code the script's `__main__` block gives."""
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin

import fgen  # noqa: F401  registers the Doc extensions
from fgen.doc_layout import SPAN_KEY, set_links
from fgen.corpus.splits import LinkDocs, build_manifest, group_key, make_folds, make_groups, plan_splits, write_splits

from ..conftest import run_script

ROOT = Path(__file__).parents[2]
SPLIT_SCRIPT = ROOT / "scripts" / "split.py"
CORPUS_ROOT = Path(__file__).parents[3] / "shared" / "fgen-corpus"
TEXT = "BRCA1 knockdown reduced growth of MCF7 cells ."

nlp = spacy.blank("en")


def make_doc(pmid: Optional[str], *, entities: bool = True, linked: bool = False, source: Optional[str] = None) -> Doc:
    """A small abstract: two entities (and one link if `linked`), or no annotation at all."""
    doc = nlp(TEXT)
    spans = [doc.char_span(0, 5, label="GENE", span_id="G0"), doc.char_span(34, 44, label="CONTEXT", span_id="C0")] if entities else []
    doc.spans[SPAN_KEY] = spans
    if spans:  # an unannotated doc leaves its tokens' entity tags missing, like a raw abstract
        doc.ents = spans
    set_links(doc, [{"GENE": spans[0], "CONTEXT": spans[1]}] if linked and entities else [])
    doc._.provenance = {
        "pmid": pmid,
        "source": source or f"{pmid}.xml",
        "folder": "linked" if linked else "entities",
        "annotator": "CC2",
        "scheme": "v2",
        "links_annotated": linked,
        "root_tag": "Genomics_ConceptTask",
    }
    return doc


def corpus(n_linked: int = 6, n_entities: int = 10, n_empty: int = 4) -> List[Doc]:
    docs = [make_doc(f"{100 + i}", linked=True) for i in range(n_linked)]
    docs += [make_doc(f"{200 + i}") for i in range(n_entities)]
    docs += [make_doc(f"{300 + i}", entities=False) for i in range(n_empty)]
    # Two copies of one PMID, and two docs without a PMID (grouped by source).
    docs += [make_doc("400", source="400_a.xml"), make_doc("400", source="400_b.xml")]
    docs += [make_doc(None, source="no_pmid_1.xml"), make_doc(None, source="no_pmid_2.xml", linked=True)]
    return docs


def keys(docs: List[Doc], indices: List[int]) -> set:
    return {group_key(docs[i]) for i in indices}


def write_corpus(path: Path, docs: List[Doc]) -> Path:
    path.write_bytes(DocBin(store_user_data=True, docs=docs).to_bytes())
    return path


def read(path: Path) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def run_split(input_path: Path, output: Path, *args: str):
    return run_script("split", input_path, output, *args)


def run_split_process(input_path: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SPLIT_SCRIPT), str(input_path), str(output), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


def test_groups_never_straddle_train_and_dev():
    docs = corpus()
    for seed in range(10):
        plan = plan_splits(docs, seed=seed, n_folds=3)
        train, dev = plan.files["train.spacy"], plan.files["dev.spacy"]
        assert sorted(train + dev) == list(range(len(docs)))
        assert not keys(docs, train) & keys(docs, dev)
        assert "pmid:400" in keys(docs, train) | keys(docs, dev)
        # Docs without PMID are their own groups: each one is on exactly one side.
        assert {"source:no_pmid_1.xml", "source:no_pmid_2.xml"} <= keys(docs, train) | keys(docs, dev)


def test_dev_fraction_and_strata():
    docs = corpus(n_linked=10, n_entities=20, n_empty=10)
    plan = plan_splits(docs, seed=3, dev_fraction=0.2, n_folds=0)
    dev = plan.files["dev.spacy"]
    assert abs(len(dev) - round(0.2 * len(docs))) <= 1
    assert sum(docs[i]._.provenance["links_annotated"] for i in dev) >= 2
    assert sum(not docs[i].ents for i in dev) >= 2
    assert not any(name.startswith("folds/") for name in plan.files)


def test_same_seed_same_plan_other_seed_differs():
    docs = corpus()
    assert plan_splits(docs, seed=1).files == plan_splits(docs, seed=1).files
    assert any(plan_splits(docs, seed=1).files["dev.spacy"] != plan_splits(docs, seed=s).files["dev.spacy"] for s in (2, 3, 4))


def test_folds_partition_all_docs_balanced():
    docs = corpus()
    plan = plan_splits(docs, seed=0, n_folds=4)
    folds = [plan.files[f"folds/fold{k}.spacy"] for k in range(4)]
    assert sorted(i for fold in folds for i in fold) == list(range(len(docs)))
    for k, fold in enumerate(folds):
        assert sorted(fold + plan.files[f"folds/train{k}.spacy"]) == list(range(len(docs)))
        assert not keys(docs, fold) & keys(docs, plan.files[f"folds/train{k}.spacy"])
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 2  # the largest group (PMID 400) has 2 docs
    linked = [sum(docs[i]._.provenance["links_annotated"] for i in fold) for fold in folds]
    assert max(linked) - min(linked) <= 1


def test_make_folds_needs_enough_groups():
    docs = corpus(n_linked=1, n_entities=1, n_empty=0)[:2]
    with pytest.raises(ValueError):
        make_folds(make_groups(docs, range(2)), 3, seed=0)


def test_link_subsets_hold_only_link_annotated_docs():
    docs = corpus()
    plan = plan_splits(docs, seed=0, n_folds=3)
    linked = {i for i, d in enumerate(docs) if d._.provenance["links_annotated"]}
    for name, indices in plan.files.items():
        if name.startswith("links/"):
            assert set(indices) <= linked
    assert set(plan.files["links/train.spacy"]) == set(plan.files["train.spacy"]) & linked
    assert set(plan.files["links/dev.spacy"]) == set(plan.files["dev.spacy"]) & linked
    assert set(plan.files["links/fold1.spacy"]) == set(plan.files["folds/fold1.spacy"]) & linked
    everything = plan_splits(docs, seed=0, n_folds=3, link_docs=LinkDocs.all)
    assert everything.files["links/train.spacy"] == everything.files["train.spacy"]


def test_include_unannotated_switch():
    docs = corpus()
    empty = {i for i, d in enumerate(docs) if not d.ents}
    kept = plan_splits(docs, seed=0, include_unannotated=True)
    dropped = plan_splits(docs, seed=0, include_unannotated=False)
    assert empty <= set(kept.files["train.spacy"] + kept.files["dev.spacy"])
    assert not empty & set(dropped.files["train.spacy"] + dropped.files["dev.spacy"] + dropped.files["folds/fold0.spacy"])
    assert dropped.n_dropped == len(empty) and kept.n_dropped == 0


def test_round_trip_keeps_provenance_links_and_outside(tmp_path):
    docs = corpus()
    plan = plan_splits(docs, seed=0, n_folds=2)
    write_splits(docs, plan, tmp_path / "out", build_manifest(docs, plan, {"seed": 0}))
    back: Dict[str, Doc] = {}
    for name in ("train.spacy", "dev.spacy"):
        back.update({d._.provenance["source"]: d for d in read(tmp_path / "out" / name)})
    assert len(back) == len(docs)
    for doc in docs:
        copy = back[doc._.provenance["source"]]
        assert copy._.provenance == doc._.provenance
        assert [(s.start_char, s.end_char, s.label_, s.id_) for s in copy.spans[SPAN_KEY]] == [(s.start_char, s.end_char, s.label_, s.id_) for s in doc.spans[SPAN_KEY]]
        assert [{r: s.text for r, s in link.items()} for link in copy._.links] == [{r: s.text for r, s in link.items()} for link in doc._.links]
        if not doc.ents:  # kept unannotated: every token outside, not missing
            assert all(t.ent_iob_ == "O" for t in copy)
    linked = read(tmp_path / "out" / "links" / "train.spacy") + read(tmp_path / "out" / "links" / "dev.spacy")
    assert linked and all(d._.provenance["links_annotated"] and d._.links for d in linked)


def test_write_replaces_earlier_output_only(tmp_path):
    docs = corpus()
    plan = plan_splits(docs, seed=0, n_folds=0)
    out = tmp_path / "out"
    write_splits(docs, plan, out, {})
    (out / "stale.spacy").write_bytes(b"")
    write_splits(docs, plan, out, {})
    assert not (out / "stale.spacy").exists()


def test_cli_deterministic_and_seed_sensitive(tmp_path):
    source = write_corpus(tmp_path / "corpus.spacy", corpus())
    other = ("--seed", "8", "--no-include-unannotated", "--link-docs", "all")
    outputs = {}
    for name, args in (("a", ("--seed", "7")), ("b", ("--seed", "7")), ("c", other)):
        result = run_split(source, tmp_path / name, *args, "--folds", "3")
        assert result.returncode == 0, result.stderr + result.stdout
        outputs[name] = {p.relative_to(tmp_path / name): p.read_bytes() for p in sorted((tmp_path / name).rglob("*")) if p.is_file()}
    assert outputs["a"] == outputs["b"]  # byte-identical, manifest included
    assert outputs["a"][Path("dev.spacy")] != outputs["c"][Path("dev.spacy")]
    expected = {"train.spacy", "dev.spacy", "splits.json", "links/train.spacy", "links/dev.spacy"}
    expected |= {f"{d}/{n}{k}.spacy" for d in ("folds", "links") for n in ("fold", "train") for k in range(3)}
    assert {str(p) for p in outputs["a"]} == {str(p) for p in outputs["c"]} == expected
    manifest = srsly.read_json(tmp_path / "a" / "splits.json")
    assert manifest["options"]["seed"] == 7 and manifest["options"]["link_docs"] == "linked-only"
    train, dev = manifest["splits"]["train.spacy"], manifest["splits"]["dev.spacy"]
    assert train["docs"] + dev["docs"] == len(corpus())
    assert not set(train["pmids"]) & set(dev["pmids"])
    manifest = srsly.read_json(tmp_path / "c" / "splits.json")
    assert manifest["docs_dropped_unannotated"] == 4
    assert manifest["splits"]["links/train.spacy"]["docs"] == manifest["splits"]["train.spacy"]["docs"]


def test_cli_refuses_foreign_folder(tmp_path):
    source = write_corpus(tmp_path / "corpus.spacy", corpus())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    result = run_split_process(source, foreign)  # a real process, for the exit code of the __main__ block
    assert result.returncode == 2 and "refusing" in result.stdout
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


def test_bad_options_raise():
    docs = corpus()
    for fraction in (0, 1, 1.5):
        with pytest.raises(ValueError):
            plan_splits(docs, dev_fraction=fraction)
    with pytest.raises(ValueError):
        plan_splits(docs, n_folds=1)
    with pytest.raises(ValueError):
        plan_splits(docs[:1])


@pytest.mark.corpus
def test_real_v2_corpus_split(tmp_path):
    raw = CORPUS_ROOT / "raw_data"
    folders = [raw / f"V2 {name}" for name in ("Marked and Linked Entities", "Marked Entities No Linking", "No Marked Entities")]
    if not all(f.is_dir() for f in folders):
        pytest.skip(f"real corpus not found under {raw}")
    converted = tmp_path / "v2.spacy"
    result = run_script("convert", *folders, converted, "--scheme", "v2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    result = run_split(converted, tmp_path / "splits", "--seed", "0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    splits = srsly.read_json(tmp_path / "splits" / "splits.json")["splits"]
    train, dev = splits["train.spacy"], splits["dev.spacy"]
    assert not set(train["pmids"]) & set(dev["pmids"])
    assert not set(train["sources"]) & set(dev["sources"])
    folds = [splits[f"folds/fold{k}.spacy"] for k in range(5)]
    assert sum(f["docs"] for f in folds) == train["docs"] + dev["docs"]
    assert max(f["groups"] for f in folds) - min(f["groups"] for f in folds) <= 1
    assert all(s["links_annotated_docs"] == s["docs"] for name, s in splits.items() if name.startswith("links/"))
    assert splits["links/dev.spacy"]["docs"] > 0 and all(splits[f"links/fold{k}.spacy"]["docs"] > 0 for k in range(5))

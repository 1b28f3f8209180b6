"""Agreement metrics on tiny hand-made MAE files, the CLI, and (marked `corpus`) the real HZ vs CC2 set.

The CLI runs in this process (conftest.run_script); one failure is checked on a real process too,
for the exit code the script's `__main__` block gives."""
import json
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from fgen.analysis.agreement import (
    ALL,
    Agreement,
    cohen_kappa,
    compare_documents,
    model_word_scores,
    overlap_pairs,
    pair_by_pmid,
    strict_pairs,
    words_of,
)
from fgen.formats.mae import MaeDocument, MaeEntity, MaeLink, mae_to_string, read_mae
from fgen.corpus.schemes import Scheme, load_scheme, scheme_from_definitions

from ..conftest import run_script

REPO = Path(__file__).parents[2]
CORPUS = Path(__file__).parents[3] / "shared" / "fgen-corpus"
IAA = CORPUS / "raw_data" / "HZ and CC files for IAA calculation"

# A small V2-shaped scheme; EFFECT has two value fields like V1's categories.
CATEGORIES = {
    "PERTURBING_ACTION": {"entity_linking_field": "@perturbing_actionID", "fields": {"perturbing_action": {"mae_field": "@perturbingaction"}}},
    "EFFECT": {"entity_linking_field": "@effectID", "fields": {"effect": {"mae_field": "@effect"}, "strength": {"mae_field": "@strength"}}},
}
VALUES = {
    "category": ["PERTURBING_ACTION", "EFFECT"],
    "perturbing_action": ["knockdown", "inhibition"],
    "effect": ["positive", "negative"],
    "strength": ["weak", "strong"],
}
# words: aaa 0-3, bbb 4-7, ccc 8-11, ddd 12-15 (after a newline), eee 16-19, fff 20-23
TEXT = "aaa bbb ccc\nddd eee fff"


@pytest.fixture
def scheme() -> Scheme:
    return scheme_from_definitions("v2", CATEGORIES, VALUES)


def pa(ent_id: str, frags: List[Tuple[int, int]], value: str) -> MaeEntity:
    return MaeEntity(ent_id, "PERTURBING_ACTION", frags, {"perturbing_action": value})


def eff(ent_id: str, frags: List[Tuple[int, int]], effect: str, strength: str) -> MaeEntity:
    return MaeEntity(ent_id, "EFFECT", frags, {"effect": effect, "strength": strength})


def doc_a() -> MaeDocument:
    ents = [pa("P0", [(0, 7)], "knockdown"), eff("E0", [(8, 11)], "positive", "weak"), eff("E1", [(16, 19)], "negative", "strong")]
    links = [MaeLink("EN0", {"PERTURBING_ACTION": "P0", "EFFECT": "E0"}), MaeLink("EN1", {"PERTURBING_ACTION": "P0", "EFFECT": "E1"})]
    return MaeDocument(TEXT, ents, links)


def doc_b() -> MaeDocument:
    ents = [
        pa("P0", [(0, 7)], "inhibition"),  # strict match, other value
        eff("E0", [(8, 15)], "positive", "weak"),  # overlaps A's E0 only
        eff("E1", [(16, 19)], "negative", "strong"),  # strict match
        eff("E2", [(20, 23)], "positive", "weak"),  # B only
    ]
    links = [MaeLink("EN0", {"PERTURBING_ACTION": "P0", "EFFECT": "E0"}), MaeLink("EN1", {"PERTURBING_ACTION": "P0", "EFFECT": "E1"})]
    return MaeDocument(TEXT, ents, links)


def roundtrip(tmp_path: Path, name: str, doc: MaeDocument, scheme: Scheme) -> MaeDocument:
    path = tmp_path / name
    path.write_text(mae_to_string(doc, scheme), encoding="utf8")
    return read_mae(path, scheme)


def test_entities_strict_and_overlap(tmp_path, scheme):
    result = compare_documents(roundtrip(tmp_path, "a.xml", doc_a(), scheme), roundtrip(tmp_path, "b.xml", doc_b(), scheme), scheme)
    pa_s, eff_s = result.strict["PERTURBING_ACTION"], result.strict["EFFECT"]
    assert (pa_s.tp, pa_s.fp, pa_s.fn) == (1, 0, 0)
    assert (eff_s.tp, eff_s.fp, eff_s.fn) == (1, 2, 1)
    assert eff_s.f1 == pytest.approx(2 / 5)
    assert eff_s.precision == pytest.approx(1 / 3) and eff_s.recall == pytest.approx(1 / 2)
    assert result.strict_total.f1 == pytest.approx(4 / 7)
    eff_o = result.overlap["EFFECT"]
    assert (eff_o.tp, eff_o.fp, eff_o.fn) == (2, 1, 0)
    assert eff_o.f1 == pytest.approx(4 / 5)
    assert result.overlap_total.f1 == pytest.approx(6 / 7)


def test_f1_is_symmetric(scheme):
    ab, ba = compare_documents(doc_a(), doc_b(), scheme), compare_documents(doc_b(), doc_a(), scheme)
    assert ab.strict_total.f1 == ba.strict_total.f1
    assert ab.strict_total.precision == ba.strict_total.recall
    assert ab.words[ALL].agreement == ba.words[ALL].agreement


def test_discontinuous_and_greedy_overlap():
    a = MaeDocument(TEXT, [pa("P0", [(0, 3), (8, 11)], "knockdown"), pa("P1", [(16, 23)], "knockdown")])
    b = MaeDocument(TEXT, [
        pa("P0", [(0, 3)], "knockdown"),  # one fragment only: overlap, not strict
        pa("P1", [(16, 23)], "knockdown"),  # exact
        pa("P2", [(12, 23)], "knockdown"),  # wider: same shared characters, loses on union
        pa("P3", [(0, 3), (8, 11)], "inhibition"),  # exact discontinuous
    ])
    assert [(x.id, y.id) for x, y in strict_pairs(a, b)] == [("P0", "P3"), ("P1", "P1")]
    assert sorted((x.id, y.id) for x, y in overlap_pairs(a, b)) == [("P0", "P3"), ("P1", "P1")]


def test_duplicates_match_once():
    a = MaeDocument(TEXT, [pa("P0", [(0, 3)], "knockdown")])
    b = MaeDocument(TEXT, [pa("P0", [(0, 3)], "knockdown"), pa("P1", [(0, 3)], "knockdown")])
    assert len(strict_pairs(a, b)) == 1 and len(overlap_pairs(a, b)) == 1


def test_value_agreement(scheme):
    result = compare_documents(doc_a(), doc_b(), scheme)
    pa_conf = result.values_strict["PERTURBING_ACTION", "perturbing_action"]
    assert dict(pa_conf) == {("knockdown", "inhibition"): 1}
    assert cohen_kappa(pa_conf) == 0.0  # p_o = 0, p_e = 0
    assert cohen_kappa(result.values_strict["EFFECT", "effect"]) is None  # one value throughout: p_e = 1
    assert sum(result.values_overlap["EFFECT", "strength"].values()) == 2


def test_kappa_textbook():
    # Wikipedia "Cohen's kappa" example: 50 proposals, p_o = 0.7, p_e = 0.5, kappa = 0.4.
    confusion = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}
    assert cohen_kappa(confusion) == pytest.approx(0.4)
    assert cohen_kappa({}) is None
    assert cohen_kappa({("x", "x"): 3, ("y", "y"): 2}) == pytest.approx(1.0)


def test_links(scheme):
    links = compare_documents(doc_a(), doc_b(), scheme).links
    # EN1 matches (same P0 and E1 spans); EN0 does not (EFFECT spans differ).
    assert (links.tp, links.fp, links.fn) == (1, 1, 1)
    assert links.f1 == pytest.approx(0.5)
    partial = MaeDocument(TEXT, doc_b().entities, [MaeLink("EN0", {"EFFECT": "E1"})])
    assert compare_documents(doc_a(), partial, scheme).links.tp == 0  # a missing role is a mismatch


def test_word_level(scheme):
    assert words_of(TEXT) == [(0, 3), (4, 7), (8, 11), (12, 15), (16, 19), (20, 23)]
    words = compare_documents(doc_a(), doc_b(), scheme).words
    # Per word, matched / union: aaa 1/3, bbb 1/3, ccc 3/3, ddd 0/3, eee 3/3, fff 0/3.
    assert (words[ALL].matched, words[ALL].n_a + words[ALL].n_b - words[ALL].matched) == (8, 18)
    assert words[ALL].agreement == pytest.approx(4 / 9)
    assert words["category"].agreement == pytest.approx(4 / 6)
    assert words["perturbing_action"].agreement == 0.0
    assert words["effect"].agreement == pytest.approx(2 / 4)
    assert words["strength"].words == 4


def test_model_word_scores(scheme):
    """B against A as a model is scored: words aaa bbb ccc ddd eee fff."""
    scores = model_word_scores([(doc_a(), doc_b())], scheme)
    # category: aaa, bbb, ccc, eee agree; ddd and fff are B's only
    assert (scores["words_category_p"], scores["words_category_r"]) == (pytest.approx(4 / 6), 1.0)
    assert scores["words_category_f"] == pytest.approx(0.8)
    assert scores["words_perturbing_action_f"] == 0.0  # knockdown vs inhibition on both words
    assert scores["words_effect_f"] == pytest.approx(2 / 3)  # ccc and eee agree, ddd and fff extra
    with pytest.raises(ValueError, match="different texts"):
        model_word_scores([(doc_a(), MaeDocument(TEXT + " more"))], scheme)


def test_sum_over_documents(scheme):
    total = Agreement()
    for _ in range(2):
        total.add(compare_documents(doc_a(), doc_b(), scheme))
    assert (total.strict_total.tp, total.links.tp, total.words[ALL].matched) == (4, 2, 16)
    assert total.strict_total.f1 == pytest.approx(4 / 7)
    assert sum(total.values_strict["EFFECT", "effect"].values()) == 2


def test_different_texts_refused(scheme):
    with pytest.raises(ValueError):
        compare_documents(doc_a(), MaeDocument(TEXT + " more"), scheme)


def test_pair_by_pmid():
    a = [Path("1_PMID12345.txt_HZ.xml"), Path("2_PMID23456.txt_HZ.xml"), Path("notes.xml")]
    b = [Path("2_PMID23456.txt_CC2.xml"), Path("1_PMID12345.txt_CC2.xml"), Path("3_PMID34567.txt_CC2.xml")]
    pairing = pair_by_pmid(a, b)
    assert [(p, x.name, y.name) for p, x, y in pairing.pairs] == [
        ("12345", "1_PMID12345.txt_HZ.xml", "1_PMID12345.txt_CC2.xml"),
        ("23456", "2_PMID23456.txt_HZ.xml", "2_PMID23456.txt_CC2.xml"),
    ]
    assert pairing.only_a == [Path("notes.xml")] and pairing.only_b == [Path("3_PMID34567.txt_CC2.xml")]
    with pytest.raises(ValueError, match="12345"):
        pair_by_pmid(a + [Path("9_PMID12345.txt_HZ.xml")], b)


def write_folders(tmp_path: Path, scheme: Scheme) -> Tuple[Path, Path, Path]:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "tag_categories_v2.json").write_text(json.dumps(CATEGORIES))
    (defs / "tag_list_definitions_v2.json").write_text(json.dumps(VALUES))
    folder_a, folder_b = tmp_path / "HZ", tmp_path / "CC2"
    folder_a.mkdir()
    folder_b.mkdir()
    (folder_a / "1_PMID12345.txt_HZ.xml").write_text(mae_to_string(doc_a(), scheme))
    (folder_b / "1_PMID12345.txt_CC2.xml").write_text(mae_to_string(doc_b(), scheme))
    (folder_b / "2_PMID23456.txt_CC2.xml").write_text(mae_to_string(doc_b(), scheme))
    return defs, folder_a, folder_b


def run_cli(*args: str):
    return run_script("agreement", *args)


def run_cli_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "agreement.py"), *args], capture_output=True, text=True, cwd=REPO)


def test_cli(tmp_path, scheme):
    defs, folder_a, folder_b = write_folders(tmp_path, scheme)
    out, out_json = tmp_path / "docs" / "agreement.md", tmp_path / "agreement.json"
    proc = run_cli(str(folder_a), str(folder_b), "--scheme", "v2", "--definitions", str(defs), "--output", str(out), "--json", str(out_json))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    assert text.startswith("# Annotator agreement: HZ vs CC2") and "python " in text and "--output" in text
    assert "2_PMID23456.txt_CC2.xml" in text  # reported as unpaired
    assert "| **all (micro)** | 3 | 4 | 2 | 0.500 | 0.667 | 0.571 |" in text
    data = json.loads(out_json.read_text())
    assert data["total"]["strict"][ALL]["f1"] == pytest.approx(4 / 7)
    assert data["total"]["words"][ALL]["agreement"] == pytest.approx(4 / 9)
    assert len(data["documents"]) == 1 and len(data["unpaired_b"]) == 1
    assert "## Word-level F1 as the models are scored" in text
    assert 0.0 <= data["model_word_scores"]["words_category_f"] <= 1.0


def test_cli_bad_file(tmp_path, scheme):
    defs, folder_a, folder_b = write_folders(tmp_path, scheme)
    bad = folder_b / "3_PMID34567.txt_CC2.xml"
    bad.write_text("<Genomics_ConceptTask><TEXT>")
    out = tmp_path / "agreement.md"
    proc = run_cli_process(str(folder_a), str(folder_b), "--definitions", str(defs), "--output", str(out))
    assert proc.returncode == 1
    assert f"{bad}: malformed XML" in proc.stdout + proc.stderr
    assert not out.exists()


def test_cli_text_mismatch(tmp_path, scheme):
    defs, folder_a, folder_b = write_folders(tmp_path, scheme)
    other = folder_b / "1_PMID12345.txt_CC2.xml"
    other.write_text(mae_to_string(MaeDocument(TEXT + " more"), scheme))
    proc = run_cli(str(folder_a), str(folder_b), "--definitions", str(defs), "--output", str(tmp_path / "a.md"))
    assert proc.returncode == 1
    assert f"{other}: the two annotations have different texts" in proc.stdout + proc.stderr


@pytest.mark.corpus
@pytest.mark.skipif(not IAA.is_dir(), reason="real corpus not present")
def test_real_hz_vs_cc2():
    scheme = load_scheme(CORPUS, "v2")
    pairing = pair_by_pmid(sorted((IAA / "HZ").glob("*.xml")), sorted((IAA / "CC2").glob("*.xml")))
    assert len(pairing.pairs) == 41 and not pairing.only_a and not pairing.only_b
    total = Agreement()
    for _, path_a, path_b in pairing.pairs:
        total.add(compare_documents(read_mae(path_a, scheme), read_mae(path_b, scheme), scheme))
    for value in (total.strict_total.f1, total.overlap_total.f1, total.links.f1, total.words[ALL].agreement):
        assert 0 < value < 1
    assert all(0 < c.f1 < 1 for c in total.strict.values())
    assert total.strict_total.f1 <= total.overlap_total.f1
    words = model_word_scores([(read_mae(a, scheme), read_mae(b, scheme)) for _, a, b in pairing.pairs], scheme)
    assert 0 < words["words_category_f"] < 1

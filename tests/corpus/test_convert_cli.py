"""scripts/convert.py and scripts/export_mae.py end to end, with good and bad input.

The CLIs run in this process (conftest.run_script); one usage error of each script is checked
on a real process too, for the exit code its `__main__` block gives."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from fgen.formats.mae import read_mae

from ..conftest import REPO, TEXT, mae_xml, run_script, v2_tags


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO)


def convert(*args):
    return run_script("convert", *args)


def export_mae(*args):
    return run_script("export_mae", *args)


def load(path: Path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_convert_v2_folders(tiny_corpus, tmp_path):
    out = tmp_path / "v2.spacy"
    result = convert(*sorted((tiny_corpus / "raw_data").glob("V2*")), out, "--scheme", "v2", "--report", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr + result.stdout
    docs = load(out)
    by_pmid = {d._.provenance["pmid"]: d for d in docs}
    assert sorted(by_pmid) == ["111111", "222222", "333333"]
    linked, unlinked, empty = by_pmid["111111"], by_pmid["222222"], by_pmid["333333"]
    assert linked._.provenance == {
        "pmid": "111111", "source": "1_PMID111111.txt_CC2.xml", "folder": "V2 Marked and Linked Entities",
        "annotator": "CC2", "revision": None, "scheme": "v2", "links_annotated": True, "root_tag": "Genomics_ConceptTask",
    }
    assert len(linked._.links) == 2
    # "annotated, no links" vs "no links annotated"
    assert unlinked._.provenance["links_annotated"] is False and unlinked._.links == []
    assert len(empty.ents) == 0 and empty._.provenance["links_annotated"] is False
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["docs_written"] == 3 and report["spans_not_representable"] == 0 and report["links"] == 2


def test_duplicates_keep_the_most_annotated_copy(tiny_corpus, tmp_path):
    raw = tiny_corpus / "raw_data"
    extra = raw / "V2 Marked Entities No Linking" / "9_PMID111111.txt_1_CC2.xml"
    extra.write_text(mae_xml(TEXT, ""), encoding="utf8")
    iaa = raw / "IAA" / "CC2"
    iaa.mkdir(parents=True)
    shutil.copy(raw / "V2 Marked and Linked Entities" / "1_PMID111111.txt_CC2.xml", iaa)
    result = convert(raw / "V2 Marked and Linked Entities", raw / "V2 Marked Entities No Linking", iaa, tmp_path / "o.spacy", "--report", tmp_path / "r.json")
    assert result.returncode == 0, result.stdout
    docs = load(tmp_path / "o.spacy")
    assert sorted(d._.provenance["pmid"] for d in docs) == ["111111", "222222"]
    kept = next(d for d in docs if d._.provenance["pmid"] == "111111")
    assert kept._.provenance["folder"] == "V2 Marked and Linked Entities"
    dropped = {Path(d["dropped"]).name for d in json.loads((tmp_path / "r.json").read_text())["duplicates_dropped"]}
    assert dropped == {"9_PMID111111.txt_1_CC2.xml", "1_PMID111111.txt_CC2.xml"}


def _add_bad_files(folder: Path):
    (folder / "5_PMID555555.txt_CC2.xml").write_text(mae_xml(TEXT, v2_tags().replace('effect="positive"', 'effect="huge"')), encoding="utf8")
    (folder / "6_PMID666666.txt_CC2.xml").write_text("<Genomics_ConceptTask><TEXT>", encoding="utf8")


def test_bad_files_fail_and_write_nothing(tiny_corpus, tmp_path):
    folder = tiny_corpus / "raw_data" / "V2 Marked and Linked Entities"
    _add_bad_files(folder)
    out = tmp_path / "o.spacy"
    result = convert(folder, out)
    assert result.returncode == 1
    assert "5_PMID555555.txt_CC2.xml: EFFECT E0: effect='huge' is not in the v2 value list" in result.stdout
    assert "6_PMID666666.txt_CC2.xml: malformed XML" in result.stdout
    assert "nothing written" in result.stdout
    assert not out.exists() and not list(tmp_path.glob(".o.spacy*"))


def test_skip_invalid_writes_valid_docs(tiny_corpus, tmp_path):
    folder = tiny_corpus / "raw_data" / "V2 Marked and Linked Entities"
    _add_bad_files(folder)
    out = tmp_path / "o.spacy"
    result = convert(folder, out, "--skip-invalid", "--report", tmp_path / "r.json")
    assert result.returncode == 0, result.stdout
    assert "skipped 2 invalid file(s)" in " ".join(result.stdout.split())
    assert [d._.provenance["pmid"] for d in load(out)] == ["111111"]
    assert len(json.loads((tmp_path / "r.json").read_text())["invalid_files"]) == 2


def test_usage_errors(tiny_corpus, tmp_path):
    # a real process, for the exit code of the script's __main__ block
    assert run(str(REPO / "scripts" / "convert.py"), str(tmp_path / "missing"), str(tmp_path / "o.spacy")).returncode == 2
    assert convert(tiny_corpus / "raw_data", tmp_path / "o.json").returncode == 2
    result = convert(tmp_path, tmp_path / "o.spacy")  # no definition files above an empty folder
    assert result.returncode == 2 and "--definitions" in result.stdout


def test_export_reproduces_the_original_files(tiny_corpus, tmp_path, v2_scheme):
    raw = tiny_corpus / "raw_data"
    assert convert(*sorted(raw.glob("V2*")), tmp_path / "v2.spacy").returncode == 0
    result = export_mae(tmp_path / "v2.spacy", tmp_path / "mae", "--definitions", tiny_corpus)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in sorted(raw.glob("V2*/*.xml")):
        original, exported = read_mae(path, v2_scheme), read_mae(tmp_path / "mae" / path.name, v2_scheme)
        assert exported.text == original.text
        assert sorted(exported.entities, key=lambda e: e.id) == sorted(original.entities, key=lambda e: e.id)
        assert [link.members for link in exported.links] == [link.members for link in original.links]


def test_export_of_v1_uses_the_docs_scheme(tiny_corpus, tmp_path, v1_scheme):
    raw = tiny_corpus / "raw_data"
    assert convert(raw / "Marked and Linked Entities", tmp_path / "v1.spacy", "--scheme", "v1").returncode == 0
    result = export_mae(tmp_path / "v1.spacy", tmp_path / "mae", "--definitions", tiny_corpus)
    assert result.returncode == 0, result.stdout + result.stderr
    original = read_mae(raw / "Marked and Linked Entities" / "1_PMID111111.txt_CC.xml", v1_scheme)
    exported = read_mae(tmp_path / "mae" / "1_PMID111111.txt_CC.xml", v1_scheme)
    assert exported.entities == original.entities
    assert [link.members for link in exported.links] == [link.members for link in original.links]


def test_export_rejects_a_file_that_is_no_docbin(tiny_corpus, tmp_path):
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"not a docbin")
    # a real process, for the exit code of the script's __main__ block
    result = run(str(REPO / "scripts" / "export_mae.py"), str(bad), str(tmp_path / "mae"), "--definitions", str(tiny_corpus))
    assert result.returncode == 1
    assert f"{bad}: not a readable DocBin" in result.stdout
    assert not (tmp_path / "mae").exists()

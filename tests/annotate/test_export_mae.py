"""scripts/export_mae.py on annotate's own `.spacy` output (issue 11): any DocBin exports, files
are named by record ids, and the output folder never removes what fgen did not write."""
from pathlib import Path

from fgen.annotate.output_location import OUTPUT_MARKER
from fgen.annotate.run_loop import annotate
from fgen.formats.mae import read_mae
from tests.annotate.test_annotate import LINKED, PLAIN, UNLINKED, write_jsonl_input
from tests.conftest import run_script


def test_export_of_annotate_output_named_by_record_ids(nlp, tmp_path, tiny_corpus, v2_scheme):
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a:1", "text": LINKED}, {"id": 7, "text": UNLINKED}, {"id": "p", "text": PLAIN}])
    annotate(nlp, source, tmp_path / "out.spacy")
    for scheme in ([], ["--scheme", "v2"]):
        out = tmp_path / "mae"
        result = run_script("export_mae", tmp_path / "out.spacy", out, "--definitions", tiny_corpus, *scheme)
        assert result.returncode == 0, result.stdout + result.stderr
        assert sorted(p.name for p in out.iterdir()) == [OUTPUT_MARKER, "7.xml", "a_1.xml", "p.xml"]
    assert read_mae(tmp_path / "mae" / "a_1.xml", v2_scheme).text == LINKED


def test_export_never_deletes_its_input_or_foreign_files(nlp, tmp_path, tiny_corpus):
    folder = tmp_path / "dir"
    folder.mkdir()
    source = write_jsonl_input(folder / "in.jsonl", [{"id": "a", "text": LINKED}])
    annotate(nlp, source, folder / "five.spacy")
    before = sorted(p.name for p in folder.iterdir())
    result = run_script("export_mae", folder / "five.spacy", folder, "--definitions", tiny_corpus)
    assert result.returncode == 1 and f"{folder}: the output contains the input" in result.stdout
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("not ours")
    result = run_script("export_mae", folder / "five.spacy", tmp_path / "other", "--definitions", tiny_corpus)
    assert result.returncode == 1 and "holds files fgen did not write (keep.txt)" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == before and (tmp_path / "other" / "keep.txt").exists()


def test_export_never_replaces_a_corrected_file(nlp, tmp_path, tiny_corpus):
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}, {"id": "p", "text": PLAIN}])
    annotate(nlp, source, tmp_path / "out.spacy")
    out = tmp_path / "mae"
    assert run_script("export_mae", tmp_path / "out.spacy", out, "--definitions", tiny_corpus).returncode == 0
    (out / "p.xml").write_text((out / "p.xml").read_text(encoding="utf8") + "\n", encoding="utf8")
    edited = (out / "p.xml").read_bytes()
    result = run_script("export_mae", tmp_path / "out.spacy", out, "--definitions", tiny_corpus)
    assert result.returncode == 1 and "p.xml changed since fgen wrote it" in result.stdout
    assert (out / "p.xml").read_bytes() == edited

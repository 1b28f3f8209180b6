"""Tests for fgen.util.hashing: one SHA-256 of a file's content and of a folder's files."""
import hashlib
from pathlib import Path

from fgen.util.hashing import file_hash, folder_hash


def make_folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "config.cfg").write_text("[nlp]\n")
    (root / "meta.json").write_text('{"performance": {}}')
    (root / "sub" / "model").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "meta.json").write_text("{}")  # only the top-level meta.json is left out
    return root


def test_file_hash_is_the_sha256_of_the_content_streamed(tmp_path):
    path = tmp_path / "big.bin"
    content = b"abc" * (1 << 20)  # larger than one block of the streamed read
    path.write_bytes(content)
    assert file_hash(path) == hashlib.sha256(content).hexdigest()
    assert file_hash(str(path)) == file_hash(path)


def test_folder_hash_covers_names_and_contents_of_all_files(tmp_path):
    folder = make_folder(tmp_path / "model")
    # the journal's format (resumable journals written before keep matching): sorted paths, each
    # relative name, a NUL, then the content
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode("utf8") + b"\0" + path.read_bytes())
    assert folder_hash(folder, exclude=()) == digest.hexdigest()
    before = folder_hash(folder)
    assert before != folder_hash(folder, exclude=())
    assert folder_hash(folder) == before  # stable
    (folder / "sub" / "model").write_bytes(bytes(range(256)) * 10 + b"\0")
    changed = folder_hash(folder)
    assert changed != before
    (folder / "sub" / "model").rename(folder / "sub" / "model2")
    assert folder_hash(folder) != changed


def test_folder_hash_leaves_out_the_top_level_meta_only(tmp_path):
    folder = make_folder(tmp_path / "model")
    before, whole = folder_hash(folder), folder_hash(folder, exclude=())
    (folder / "meta.json").write_text('{"performance": {"ents_f": 0.5}}')
    assert folder_hash(folder) == before
    assert folder_hash(folder, exclude=()) != whole
    (folder / "sub" / "meta.json").write_text('{"x": 1}')
    assert folder_hash(folder) != before

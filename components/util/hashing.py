"""SHA-256 fingerprints of files and folders, in one place: the annotation journal identifies its
input and model with them, the MAE output marker its files, and an evaluation the pipeline
folder it scored (so a package ships only the scores of the folder it packages).

Files are read in blocks: inputs and weights can be larger than memory.
"""
import hashlib
from pathlib import Path
from typing import Iterable, Union

BLOCK = 1 << 20


def _update(digest: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)


def file_hash(path: Union[str, Path]) -> str:
    """The SHA-256 of a file's content.

    path (Union[str, Path]): the file.
    RETURNS (str): the digest, hex.
    """
    digest = hashlib.sha256()
    _update(digest, Path(path))
    return digest.hexdigest()


def folder_hash(folder: Union[str, Path], exclude: Iterable[str] = ("meta.json",)) -> str:
    """The SHA-256 of every file below `folder`: in sorted order, each file's path relative to
    `folder` (POSIX), a NUL byte, then its content.

    folder (Union[str, Path]): the folder, e.g. a saved pipeline.
    exclude (Iterable[str]): relative POSIX paths left out. By default a pipeline's top-level
        `meta.json`, which packaging and assembly rewrite without changing what the pipeline does.
    RETURNS (str): the digest, hex.
    """
    folder = Path(folder)
    left_out = set(exclude)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name in left_out:
            continue
        digest.update(name.encode("utf8") + b"\0")
        _update(digest, path)
    return digest.hexdigest()

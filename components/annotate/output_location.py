"""Where an annotate or export run may write: checked before any model loads, so that an output
never removes files the tool did not write and never contains the input.

A folder output (MAE files) is replaced as a whole, so it must be new, empty, or a previous
output of fgen: those carry `OUTPUT_MARKER`, the list of the files fgen wrote into them with a
hash of each, and hold nothing else. A file changed since fgen wrote it (an annotator corrected
it in MAE) is never replaced: the run is refused, naming it. A file output is replaced, unless
it is one of the inputs.
"""
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, List, Union

from fgen.annotate.inputs import AnnotateError, is_within
from fgen.util.hashing import file_hash

OUTPUT_MARKER = ".fgen-output.json"


def _nearest_existing(path: Path) -> Path:
    for folder in [path, *path.parents]:
        if folder.exists():
            return folder
    return Path(path.anchor or ".")


def check_output_location(output: Union[str, Path], is_folder: bool, inputs: Iterable[Union[str, Path]] = ()) -> None:
    """Refuse an output that cannot be written or would destroy data, with a one-line reason.

    output (Path): the output file, or folder when `is_folder`.
    is_folder (bool): the output is a folder that is replaced as a whole (MAE files).
    inputs (Iterable[Path]): input files or folders, which the output must neither be nor contain.
    RAISES (AnnotateError): the output is an input, or would contain one; its parent is not a
        writable folder; a folder output holds files fgen did not write.
    """
    output = Path(output)
    resolved = output.resolve()
    for source in inputs:
        source = Path(source).resolve()
        if resolved == source or (is_folder and is_within(source, resolved)):
            what = "is" if resolved == source else "contains"
            raise AnnotateError(f"{output}: the output {what} the input {source}; choose another output")
    if resolved.parent == resolved:
        raise AnnotateError(f"{output}: cannot be an output (a file system root)")
    existing = _nearest_existing(resolved.parent)
    if not existing.is_dir():
        raise AnnotateError(f"{output}: cannot be created ({existing} is a file, not a folder)")
    if not writable(existing):
        raise AnnotateError(f"{output}: cannot be written (no file can be created in {existing}: read-only or not permitted)")
    if is_folder and output.is_dir():
        foreign = foreign_entries(output)
        if foreign:
            raise AnnotateError(
                f"{output}: the folder holds files fgen did not write ({_shown(foreign)}); "
                "choose a new or empty folder (a folder output is replaced as a whole)"
            )
        refuse_changed_entries(output)


def _shown(names: List[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def refuse_changed_entries(folder: Union[str, Path]) -> None:
    """RAISES (AnnotateError): a file of `folder` changed since fgen wrote it (`changed_entries`)."""
    changed = changed_entries(folder)
    if changed:
        raise AnnotateError(
            f"{folder}: {_shown(changed)} changed since fgen wrote {'it' if len(changed) == 1 else 'them'} "
            "(corrected in MAE?) and would be replaced; move them out of the folder, or choose another output folder"
        )


def writable(folder: Path) -> bool:
    """Whether files can be created in `folder`: tried, since permissions alone miss read-only
    file systems and special ones (/proc)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def foreign_entries(folder: Union[str, Path]) -> List[str]:
    """The names in `folder` that no earlier fgen output listed in its `OUTPUT_MARKER` (all of
    them when there is no readable marker), sorted."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return []
    try:
        written = set(json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return [n for n in names if n != OUTPUT_MARKER] or names
    return [n for n in names if n != OUTPUT_MARKER and (n not in written or not (folder / n).is_file())]


def changed_entries(folder: Union[str, Path]) -> List[str]:
    """The files of `folder` whose content differs from what fgen wrote (the hashes in its
    `OUTPUT_MARKER`), sorted; none for a marker without hashes (written before they were kept)."""
    folder = Path(folder)
    try:
        hashes = json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf8")).get("sha256", {})
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(hashes, dict):
        return []
    return sorted(name for name, digest in hashes.items()
                  if (folder / name).is_file() and file_hash(folder / name) != digest)


def write_output_marker(folder: Union[str, Path], tool: str, files: Iterable[str]) -> None:
    """List the files `tool` wrote into `folder` with the hash of each, so a later run may
    replace them unless they changed since."""
    folder = Path(folder)
    names = sorted(files)
    marker = {"tool": tool, "files": names, "sha256": {name: file_hash(folder / name) for name in names}}
    (folder / OUTPUT_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf8")


def remove_stale_temporaries(output: Union[str, Path]) -> List[Path]:
    """Remove what an interrupted write of `output` left beside it: `fgen.util.atomic`'s
    temporary files (`.NAME.xxxxxxxx.tmp`) and folders (`.NAME.xxxxxxxx`, `.NAME.old`), and a
    journal's rewrite (`.NAME.rewrite`, see `fgen.annotate.journal`).

    RETURNS (List[Path]): what was removed.
    """
    output = Path(output)
    if not output.parent.is_dir():
        return []
    pattern = re.compile(r"\." + re.escape(output.name) + r"\.([a-z0-9_]{8}(\.tmp)?|old|rewrite)")
    removed = []
    for path in output.parent.iterdir():
        if pattern.fullmatch(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed

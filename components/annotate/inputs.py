"""Reading the texts to annotate: the input files of a run (a file, or a folder of them) and their
records in order, each id once, within the record limit. The readers of each format are in
`fgen.formats` (`fgen.formats.readers.read_file` picks one by suffix).

Readers yield `Record`s and, for input they cannot use, `Problem`s naming the position
(`path:line`, `path: article N`) and the reason, so one bad record never stops a run.

Ids are strings, on every path (`scripts/annotate.py`, `scripts/annotate_ray.py`) and in every
output (JSONL, Parquet, MAE file names, HTML, DocBin provenance): a JSONL integer id is read as
its decimal string, so `7` and `"7"` are one id and the second record is reported as a duplicate.
"""
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

from fgen.annotate.bounds import LIMIT_ENV, record_limit
from fgen.formats.readers import INPUT_SUFFIXES, input_suffix, read_file
from fgen.formats.records import FormatError, Item, Problem, Record

# Input, output, model or journal that cannot be used; `str()` is one line `path: reason`. The
# formats' error itself, so a writer's FormatError is reported like any other.
AnnotateError = FormatError


def input_files(path: Union[str, Path], exclude: Iterable[Path] = ()) -> List[Path]:
    """The files to read: `path` itself, or every file under the folder `path` (recursively,
    sorted, hidden names left out, `exclude` left out: the run's own journal and output).

    RAISES (AnnotateError): when `path` is missing or a file with an unsupported suffix.
    """
    path = Path(path)
    if path.is_dir():
        skip = [Path(p).resolve() for p in exclude]
        files = []
        for p in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
            if p.is_file() and not hidden and not any(is_within(p.resolve(), e) for e in skip):
                files.append(p)
        return files
    if not path.is_file():
        raise AnnotateError(f"{path}: no such file or folder")
    if input_suffix(path) not in INPUT_SUFFIXES:
        raise AnnotateError(f"{path}: unsupported input (expected {', '.join(INPUT_SUFFIXES)} or a folder)")
    return [path]


def is_within(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it (both resolved)."""
    return path == folder or folder in path.parents


def within_max_length(item: Item, max_length: int, max_chars: Optional[int] = None) -> Item:
    """`item`, or a Problem in its place when it is a Record whose text is longer than the
    record limit (`fgen.annotate.bounds.record_limit`: `max_chars`, else FGEN_MAX_RECORD_CHARS,
    else its default, at most `max_length`, the pipeline's `nlp.max_length`)."""
    limit = record_limit(max_length, max_chars)
    if isinstance(item, Record) and len(item.text) > limit:
        return Problem(item.position, f"text of {len(item.text)} characters is longer than the limit of {limit} (--max-chars, {LIMIT_ENV}, nlp.max_length)")
    return item


def read_records(files: Sequence[Path], whole_file: bool = False) -> Iterator[Item]:
    """Records of all `files` in order, lazily; a record whose id was already read becomes a
    Problem naming the first position."""
    first_seen: Dict[str, str] = {}
    for path in files:
        try:
            for item in read_file(path, whole_file=whole_file):
                if isinstance(item, Record):
                    if item.id in first_seen:
                        item = Problem(item.position, f"duplicate id {item.id!r} (first at {first_seen[item.id]})")
                    else:
                        first_seen[item.id] = item.position
                yield item
        except OSError as err:
            yield Problem(str(path), f"cannot read ({err.strerror or err})")

"""Reading the texts to annotate: `.txt`, `.jsonl`, PubMed XML files (`.xml`, `.xml.gz`: read by
`fgen.annotate.pubmed`) and folders of them.

Readers yield `Record`s and, for input they cannot use, `Problem`s naming the position
(`path:line`, `path: article N`) and the reason, so one bad record never stops a run.

Ids are strings, on every path (`scripts/annotate.py`, `scripts/annotate_ray.py`) and in every
output (JSONL, Parquet, MAE file names, HTML, DocBin provenance): a JSONL integer id is read as
its decimal string, so `7` and `"7"` are one id and the second record is reported as a duplicate.
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from fgen.annotate.bounds import LIMIT_ENV, record_limit


INPUT_SUFFIXES = (".txt", ".jsonl", ".xml", ".xml.gz")


class AnnotateError(ValueError):
    """Input, output, model or journal that cannot be used; `str()` is one line `path: reason`."""


@dataclass(frozen=True)
class Record:
    """One text to annotate: its id (a string: a JSONL integer id becomes its decimal string), the
    text and where it was read (`path:line`, `path: article N`)."""

    id: str
    text: str
    position: str
    pmid: Optional[str] = None


@dataclass(frozen=True)
class Problem:
    """Input that was skipped: where, and why."""

    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.position}: {self.reason}"


Item = Union[Record, Problem]


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


def _lines(path: Path) -> Iterator[Tuple[int, bytes]]:
    # Binary lines split on "\n" only: U+2028 and lone "\r" stay inside a record.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield number, raw.rstrip(b"\r\n")


def read_txt(path: Union[str, Path], whole_file: bool = False) -> Iterator[Item]:
    """Records of a text file: one per non-blank line (id `<stem>:<line>`), or one for the whole
    file with `whole_file` (id `<stem>`). Blank lines are skipped silently."""
    path = Path(path)
    if whole_file:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as err:
            yield Problem(str(path), f"not UTF-8 (byte {err.start})")
            return
        yield Record(path.stem, text, str(path)) if text.strip() else Problem(str(path), "empty text")
        return
    for number, raw in _lines(path):
        try:
            line = raw.decode("utf8")
        except UnicodeDecodeError as err:
            yield Problem(f"{path}:{number}", f"not UTF-8 (byte {err.start})")
            continue
        if line.strip():
            yield Record(f"{path.stem}:{number}", line, f"{path}:{number}")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_record(path: Path, number: int, raw: bytes) -> Optional[Item]:
    position = f"{path}:{number}"
    try:
        obj = json.loads(raw.decode("utf8"))
    except UnicodeDecodeError as err:
        return Problem(position, f"not UTF-8 (byte {err.start})")
    except json.JSONDecodeError as err:
        return Problem(position, f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(obj, dict):
        return Problem(position, f"not a JSON object but {type(obj).__name__}")
    text, doc_id = obj.get("text"), obj.get("id")
    if not isinstance(text, str):
        return Problem(position, 'no string "text"' if text is None else f'"text" is a {type(text).__name__}, not a string')
    if not text.strip():
        return Problem(position, "empty text")
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate:  # JSON can escape one; no UTF-8 output (journal, files) can hold it
        return Problem(position, f'"text" holds a lone surrogate (\\u{ord(surrogate.group()):04x} at {surrogate.start()}), not Unicode text')
    if doc_id is None:
        doc_id = f"{path.stem}:{number}"  # as for .txt lines
    elif isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        return Problem(position, f'"id" must be a string or an integer, not {json.dumps(doc_id)[:40]}')
    elif not str(doc_id).strip():
        return Problem(position, 'empty "id"')
    elif isinstance(doc_id, str) and _LONE_SURROGATE.search(doc_id):
        return Problem(position, '"id" holds a lone surrogate, not Unicode text')
    return Record(str(doc_id), text, position)  # ids are strings everywhere (module docstring)


def read_jsonl(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a JSONL file, one `{"id": ..., "text": ...}` per line (blank lines skipped).
    A record without "id" gets `<stem>:<line>`; an integer id becomes its decimal string."""
    path = Path(path)
    for number, raw in _lines(path):
        if raw.strip():
            item = _json_record(path, number, raw)
            if item is not None:
                yield item


def input_suffix(path: Path) -> str:
    """The suffix that tells an input's kind, lower case: `.xml.gz` for gzipped PubMed XML."""
    name = path.name.lower()
    return ".xml.gz" if name.endswith(".xml.gz") else path.suffix.lower()


def read_file(path: Path, whole_file: bool = False) -> Iterator[Item]:
    """Records of one input file, by suffix (`input_suffix`)."""
    from fgen.annotate.pubmed import read_pubmed_xml  # here: pubmed.py builds on Record and Problem

    suffix = input_suffix(path)
    if suffix == ".txt":
        return read_txt(path, whole_file=whole_file)
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix in (".xml", ".xml.gz"):
        return read_pubmed_xml(path)
    return iter([Problem(str(path), f"skipped: not a {', '.join(INPUT_SUFFIXES)} file")])


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

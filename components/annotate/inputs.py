"""Reading the texts to annotate: `.txt`, `.jsonl`, PubMed XML files and folders of them.

Readers yield `Record`s and, for input they cannot use, `Problem`s naming the position
(`path:line`, `path: article N`) and the reason, so one bad record never stops a run.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException


INPUT_SUFFIXES = (".txt", ".jsonl", ".xml")


class AnnotateError(ValueError):
    """Input, output, model or journal that cannot be used; `str()` is one line `path: reason`."""


@dataclass(frozen=True)
class Record:
    """One text to annotate: its id, the text and where it was read (`path:line`, `path: article N`)."""

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
            if p.is_file() and not hidden and not any(_is_within(p.resolve(), e) for e in skip):
                files.append(p)
        return files
    if not path.is_file():
        raise AnnotateError(f"{path}: no such file or folder")
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise AnnotateError(f"{path}: unsupported input (expected {', '.join(INPUT_SUFFIXES)} or a folder)")
    return [path]


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


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
    if doc_id is None:
        doc_id = f"{path.stem}:{number}"  # as for .txt lines
    elif isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        return Problem(position, f'"id" must be a string or an integer, not {json.dumps(doc_id)[:40]}')
    elif not str(doc_id).strip():
        return Problem(position, 'empty "id"')
    return Record(str(doc_id), text, position)


def read_jsonl(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a JSONL file, one `{"id": ..., "text": ...}` per line (blank lines skipped).
    A record without "id" gets `<stem>:<line>`."""
    path = Path(path)
    for number, raw in _lines(path):
        if raw.strip():
            item = _json_record(path, number, raw)
            if item is not None:
                yield item


def _all_text(el: Optional[Element]) -> str:
    # itertext keeps the text inside inline markup (<i>, <sup>, ...).
    return "".join(el.itertext()).strip() if el is not None else ""


def _article_item(el: Element, position: str) -> Item:
    pmid = (el.findtext("MedlineCitation/PMID") or "").strip()
    if not pmid:
        return Problem(position, "no PMID")
    article = el.find("MedlineCitation/Article")
    if article is None:
        return Problem(position, f"PMID {pmid}: no <Article>")
    pieces = [_all_text(article.find("ArticleTitle"))]
    pieces += [_all_text(part) for part in article.findall("Abstract/AbstractText")]
    pieces = [p for p in pieces if p]
    if not pieces:
        return Problem(position, f"PMID {pmid}: no title or abstract text")
    return Record(pmid, "\n".join(pieces), position, pmid=pmid)


def read_pubmed_xml(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a PubMed XML file (`PubmedArticleSet`), streamed: text = ArticleTitle and the
    AbstractText parts, one per line; id = PMID. Parsed with defusedxml; every article is
    cleared once read, so memory stays constant. A syntax error ends the file with a Problem
    (`path:line`); the articles before it are kept."""
    path = Path(path)
    root: Optional[Element] = None
    depth = count = 0
    try:
        with path.open("rb") as handle:
            for event, el in SafeET.iterparse(handle, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if root is None:
                        root = el
                        if el.tag != "PubmedArticleSet":
                            yield Problem(str(path), f"not a PubMed XML file (root element <{el.tag}>)")
                            return
                    continue
                depth -= 1
                if depth == 1:  # a child of the root is complete
                    if el.tag == "PubmedArticle":
                        count += 1
                        yield _article_item(el, f"{path}: article {count}")
                    root.clear()  # drop what was read (root is set: depth 1 comes after its start)
    except ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else "?"
        yield Problem(f"{path}:{line}", f"malformed XML, rest of the file skipped ({err})")
        return
    except DefusedXmlException as err:
        yield Problem(str(path), f"unsafe XML, rest of the file skipped ({type(err).__name__})")


def read_file(path: Path, whole_file: bool = False) -> Iterator[Item]:
    """Records of one input file, by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_txt(path, whole_file=whole_file)
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".xml":
        return read_pubmed_xml(path)
    return iter([Problem(str(path), f"skipped: not a {', '.join(INPUT_SUFFIXES)} file")])


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

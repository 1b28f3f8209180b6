"""PubTator, both ways: a block per document, `ID|t|title`, `ID|a|abstract`, then a tab line per
entity `ID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>identifier`, blocks apart by a blank line.
Offsets count over the title, one character, and the abstract (PubTator's own convention).

Entities only: PubTator has no place for a statement (a relation line links two identifiers,
not four mentions), so fgen's statements are not written; BioC carries them.

Output: `type` is the category, the identifier column the value. The title is the record's first
passage when that is a title, the abstract the rest of its text; line breaks and tabs inside
either become spaces (same length, so offsets hold).

Input: a record per block, text = title, a line break, abstract, so its offsets are PubTator's and
the passages title and abstract are kept. The block's entity lines are checked (offsets inside
the text), not used; relation lines are ignored. A block that breaks the format is skipped and
named (`path:line (id ID): reason`); the rest of the file is read.
"""
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc

from fgen.formats.jsonl import doc_record
from fgen.formats.passages import doc_passages, passage_text
from fgen.formats.records import Item, Passage, Problem, Record
from fgen.formats.text import file_lines
from fgen.util.atomic import atomic_text_file

_TEXT_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$", re.S)
_FLAT = re.compile(r"[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")  # what would break a PubTator line


def _flat(text: str) -> str:
    return _FLAT.sub(" ", text)


def pubtator_block(doc: Doc, doc_id: str) -> str:
    """The PubTator block of an annotated doc (see the module docstring), ending in a blank line."""
    passages = doc_passages(doc)
    first = passages[0]
    has_title = first.type == "title" and first.offset == 0 and len(passages) > 1
    title = passage_text(doc, first) if has_title else ""
    abstract_start = passages[1].offset if has_title else 0
    abstract = doc.text[abstract_start:]

    def offset(char: int) -> int:  # record offset -> PubTator offset (title, one character, abstract)
        return char if has_title and char <= len(title) else char - abstract_start + len(title) + 1

    doc_id = _flat(str(doc_id)).replace("|", "_")
    lines = [f"{doc_id}|t|{_flat(title)}", f"{doc_id}|a|{_flat(abstract)}"]
    for entity in doc_record(doc, doc_id)["entities"]:
        cells = [doc_id, str(offset(entity["start"])), str(offset(entity["end"])), entity["text"], entity["label"], entity["value"] or ""]
        lines.append("\t".join(map(_flat, cells)))
    return "\n".join(lines) + "\n\n"


def write_pubtator(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write a PubTator block per doc, atomically; returns the number written."""
    count = 0
    with atomic_text_file(path) as handle:
        for doc_id, doc in docs:
            handle.write(pubtator_block(doc, doc_id))
            count += 1
    return count


class _Block:
    """The lines of one PubTator document as they are read."""

    def __init__(self, doc_id: str, line: int):
        self.id, self.line = doc_id, line
        self.title: Optional[str] = None
        self.abstract: Optional[str] = None
        self.entities: List[Tuple[int, List[str]]] = []
        self.problem: Optional[str] = None

    def item(self, path: Path) -> Item:
        position = f"{path}:{self.line} (id {self.id})"
        if self.problem:
            return Problem(position, self.problem)
        if self.title is None:
            return Problem(position, "no title line (ID|t|...)")
        abstract = self.abstract or ""
        text = f"{self.title}\n{abstract}"
        if not text.strip():
            return Problem(position, "empty text")
        for number, cells in self.entities:
            try:
                start, end = int(cells[1]), int(cells[2])
            except ValueError:
                return Problem(f"{path}:{number} (id {self.id})", f"offsets {cells[1]!r}, {cells[2]!r} are not integers")
            if not 0 <= start <= end <= len(text):
                return Problem(f"{path}:{number} (id {self.id})", f"offsets {start}-{end} are outside the text (0-{len(text)})")
        passages = (Passage(0, len(self.title), "title"), Passage(len(self.title) + 1, len(abstract), "abstract"))
        return Record(self.id, text, position, pmid=self.id if self.id.isdigit() else None, passages=passages)


def read_pubtator(path: Union[str, Path]) -> Iterator[Item]:
    """Items of a PubTator file: a Record per document (see the module docstring), a Problem per
    document or line that breaks the format."""
    path = Path(path)
    block: Optional[_Block] = None
    for number, raw in file_lines(path):
        try:
            line = raw.decode("utf8")
        except UnicodeDecodeError as err:
            if block is not None:
                block.problem = block.problem or f"line {number} is not UTF-8 (byte {err.start})"
            else:
                yield Problem(f"{path}:{number}", f"not UTF-8 (byte {err.start})")
            continue
        if not line.strip():
            if block is not None:
                yield block.item(path)
                block = None
            continue
        text_line = _TEXT_LINE.match(line)
        if text_line:
            doc_id, kind, text = text_line.groups()
            if block is not None and (doc_id != block.id or kind == "t"):
                yield block.item(path)  # a new document without a blank line before it
                block = None
            if block is None:
                block = _Block(doc_id, number)
            if kind == "t":
                block.title = text
            elif block.abstract is not None:
                block.problem = block.problem or f"line {number}: a second abstract line"
            else:
                block.abstract = text
                if block.title is None:
                    block.problem = block.problem or f"line {number}: abstract line before a title line"
            continue
        cells = line.split("\t")
        if block is None:
            yield Problem(f"{path}:{number}", "not a PubTator line (ID|t|title, ID|a|abstract or tab-separated annotation)")
        elif cells[0] != block.id:
            block.problem = block.problem or f"line {number}: id {cells[0]!r} inside the block of {block.id!r}"
        elif len(cells) >= 5:
            block.entities.append((number, cells))
        elif len(cells) != 4:  # relation lines (ID, type, id1, id2) are ignored, others break the format
            block.problem = block.problem or f"line {number}: not a PubTator line"
    if block is not None:
        yield block.item(path)

"""What every format shares: the record read from an input (`Record`, its `Passage`s), the input
that could not be used (`Problem`, `FileProblem`, `DeletedCitations`) and `FormatError`.

A record's text is its passages laid at their offsets: a reader of a format with passages (PubMed
XML, BioC, PubTator) keeps each passage's offset, so the offsets of the entities found in the
record's text are offsets in the original passages, and writers with passages (BioC, PubTator)
cut the text back into them (`fgen.formats.passages`).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union


class FormatError(ValueError):
    """Input, output or a doc that a format cannot use; `str()` is one line `path: reason`."""


@dataclass(frozen=True)
class Passage:
    """A part of a record's text: `offset` and `length` in the record's text; `type` as BioC and
    PubTator name it ("title", "abstract"), `infons` the rest (e.g. a structured abstract's section)."""

    offset: int
    length: int
    type: str = "abstract"
    infons: Tuple[Tuple[str, str], ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable form (kept in `doc._.provenance["passages"]`)."""
        return {"offset": self.offset, "length": self.length, "type": self.type, "infons": dict(self.infons)}

    @classmethod
    def from_dict(cls, obj: Dict[str, Any]) -> "Passage":
        return cls(int(obj["offset"]), int(obj["length"]), str(obj.get("type", "abstract")), tuple(sorted((obj.get("infons") or {}).items())))


@dataclass(frozen=True)
class Record:
    """One text to annotate: its id (a string: a JSONL integer id becomes its decimal string), the
    text, where it was read (`path:line`, `path: article N`), its PMID when known, and its
    passages when the input has them (else the whole text is one)."""

    id: str
    text: str
    position: str
    pmid: Optional[str] = None
    passages: Tuple[Passage, ...] = field(default=())


@dataclass(frozen=True)
class Problem:
    """Input that was skipped: where, and why."""

    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.position}: {self.reason}"


@dataclass(frozen=True)
class FileProblem(Problem):
    """A problem that stopped the reading of a file: the records before it were read, the rest was not."""


@dataclass(frozen=True)
class DeletedCitations(Problem):
    """A `DeleteCitation` block: PMIDs published by earlier baseline or update files that PubMed
    withdrew, so their annotations should be removed from earlier outputs."""

    pmids: Tuple[str, ...] = ()


Item = Union[Record, Problem]

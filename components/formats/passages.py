"""Passages and a record's text: readers lay passages out at their offsets (`lay_out`), writers
cut a doc's text back into them (`doc_passages`), from `doc._.provenance["passages"]`."""
from typing import Iterable, List, Sequence, Tuple

from spacy.tokens import Doc

from fgen.formats.records import Passage

# Where annotate keeps a record's passages on its Doc (`doc._.provenance`), for the writers.
PROVENANCE_KEY = "passages"


def lay_out(pieces: Iterable[Tuple[int, str, str, Sequence[Tuple[str, str]]]]) -> Tuple[str, Tuple[Passage, ...]]:
    """The text of passages given as (offset, text, type, infons), each at its offset, so offsets
    into the passages are offsets into the text; a gap between passages becomes a line break
    and spaces.

    RETURNS (Tuple[str, Tuple[Passage, ...]]): the text and the passages.
    RAISES (ValueError): a negative offset, or a passage that starts before the previous one ends.
    """
    parts: List[str] = []
    passages: List[Passage] = []
    end = 0
    for offset, text, kind, infons in pieces:
        if offset < 0:
            raise ValueError(f"passage offset {offset} is negative")
        if offset < end:
            raise ValueError(f"passage at offset {offset} starts before the previous one ends (at {end})")
        if offset > end:
            parts.append("\n".ljust(offset - end))
        parts.append(text)
        passages.append(Passage(offset, len(text), kind or "abstract", tuple(sorted(infons))))
        end = offset + len(text)
    return "".join(parts), tuple(passages)


def doc_passages(doc: Doc) -> List[Passage]:
    """The passages of an annotated doc: those its record had (see `PROVENANCE_KEY`) when they
    fit its text, else the whole text as one "abstract" passage."""
    provenance = doc._.provenance if isinstance(doc._.provenance, dict) else {}
    try:
        passages = [Passage.from_dict(p) for p in provenance.get(PROVENANCE_KEY) or ()]
    except (KeyError, TypeError, ValueError, AttributeError):
        passages = []
    if passages and all(0 <= p.offset and p.offset + p.length <= len(doc.text) for p in passages):
        return passages
    return [Passage(0, len(doc.text), "abstract")]


def passage_text(doc: Doc, passage: Passage) -> str:
    """The text of `passage` in `doc`."""
    return doc.text[passage.offset : passage.offset + passage.length]

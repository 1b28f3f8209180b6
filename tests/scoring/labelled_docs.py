"""Docs with hand-placed entities, for the error-class tests."""
from typing import Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

TEXT = "Knockdown of ATG12 in UM cells inhibits tumorigenesis and migration of them ."


def doc_with(nlp: Language, spans: Sequence[Tuple[int, int, str]], text: str = TEXT) -> Doc:
    """`text` with `doc.ents` set to the (start token, end token, label) spans."""
    doc = nlp(text)
    doc.ents = [Span(doc, s, e, label=lab) for s, e, lab in spans]
    return doc

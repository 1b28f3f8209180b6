"""Sentence boundaries that do not depend on what ran before: `doc.sents` when the doc has them
(a parser, senter or sentencizer ran), else spaCy's rule-based Sentencizer applied on the fly
(the doc is not modified). Training and prediction therefore see the same boundaries."""
from typing import List

from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

_SENTENCIZER = Sentencizer()


def sentence_ids(doc: Doc) -> List[int]:
    """The sentence number of every token of `doc` (0-based).

    doc (Doc): the document.
    RETURNS (List[int]): one sentence number per token.
    """
    if len(doc) == 0:
        return []
    if doc.has_annotation("SENT_START"):
        starts = [tok.is_sent_start for tok in doc]
    else:
        starts = list(_SENTENCIZER.predict([doc])[0])
    ids, current = [], 0
    for i, start in enumerate(starts):
        if start and i > 0:
            current += 1
        ids.append(current)
    return ids


def sentence_starts(doc: Doc) -> List[int]:
    """The token index where each sentence of `doc` starts (0 for the first).

    doc (Doc): the document.
    RETURNS (List[int]): sorted token indices.
    """
    ids = sentence_ids(doc)
    return [i for i, sent in enumerate(ids) if i == 0 or sent != ids[i - 1]]

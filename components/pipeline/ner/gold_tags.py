"""Gold BILUO tags of an example, aligned to its predicted tokens, fast when both docs share tokens.

`Example.get_aligned_ner()` aligns the reference to the predicted tokens through character
offsets, which costs more per training step than the tagger's forward pass on short batches.
In training the predicted doc is almost always the reference's own tokenization (the corpus
and the pipeline share the tokenizer), and then the tags can be read from the reference's
entities directly. `aligned_biluo_tags` does that and falls back to spaCy's alignment whenever
the tokens differ, so it returns exactly what `get_aligned_ner()` returns.
"""
from typing import List, Optional

import numpy
from spacy.attrs import ENT_IOB, IDX, IS_SPACE, ORTH
from spacy.tokens import Doc
from spacy.training import Example

_OUTSIDE = 2  # ENT_IOB: 0 missing, 1 I, 2 O, 3 B


def same_tokens(predicted: Doc, reference: Doc) -> bool:
    """Whether the two docs have the same text cut into the same tokens."""
    if len(predicted) != len(reference) or predicted.text != reference.text:
        return False
    return bool(numpy.array_equal(predicted.to_array([IDX, ORTH]), reference.to_array([IDX, ORTH])))


def aligned_biluo_tags(example: Example) -> List[Optional[str]]:
    """BILUO tags of the reference's entities on the predicted tokens; None where unknown.

    Same result as `example.get_aligned_ner()`: "O" where the reference says outside (and on
    whitespace tokens), None where its annotation is missing or does not align.

    example (Example): the example.
    RETURNS (List[Optional[str]]): one tag per predicted token.
    """
    reference = example.reference
    if not same_tokens(example.predicted, reference):
        return example.get_aligned_ner()
    if not reference.has_annotation("ENT_IOB"):
        return [None] * len(reference)
    iob, is_space = reference.to_array([ENT_IOB, IS_SPACE]).T
    tags: List[Optional[str]] = [None] * len(reference)
    for ent in reference.ents:
        if len(ent) == 1:
            tags[ent.start] = f"U-{ent.label_}"
            continue
        tags[ent.start] = f"B-{ent.label_}"
        tags[ent.start + 1 : ent.end - 1] = [f"I-{ent.label_}"] * (len(ent) - 2)
        tags[ent.end - 1] = f"L-{ent.label_}"
    for i, tag in enumerate(tags):
        if tag is None and (iob[i] == _OUTSIDE or is_space[i]):
            tags[i] = "O"
    return tags

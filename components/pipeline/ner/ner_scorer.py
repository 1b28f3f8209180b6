"""The `fgen_ner` scorer: strict entity P/R/F overall and per category, as spaCy scores NER."""
from typing import Any, Callable, Dict, Iterable

import spacy
from spacy.scorer import get_ner_prf
from spacy.training import Example


def ner_score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
    """ents_p / ents_r / ents_f and ents_per_type, as spaCy's NER scores them."""
    return get_ner_prf(examples)


@spacy.registry.scorers("fgen.ner_scorer.v1")
def make_ner_scorer() -> Callable[..., Dict[str, Any]]:
    return ner_score

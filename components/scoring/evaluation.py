"""Run a pipeline over gold docs and score it: one definition for scripts/evaluate.py and the
benchmarks, whatever component finds the entities (fgen_ner, spaCy's ner or spancat)."""
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example

from fgen.doc_layout import SPAN_KEY, entity_spans, has_entities, spans_overlap
from fgen.corpus.schemes import Scheme
from fgen.scoring.entity_errors import entity_errors
from fgen.scoring.word_errors import word_errors
from fgen.scoring.word_scores import scheme_of_docs, score_words


OnDoc = Optional[Callable[[int], None]]


def predict_examples(nlp: Language, gold_docs: Sequence[Doc], batch_size: Optional[int] = None,
                     on_doc: OnDoc = None) -> List[Example]:
    """Examples whose predicted side is `nlp` run over the gold texts (as `nlp.evaluate` does);
    `on_doc` is called with the number of docs done after each (progress)."""
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold_docs]
    predicted = nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size or nlp.batch_size)
    for i, (eg, doc) in enumerate(zip(examples, predicted), 1):
        eg.predicted = doc
        if on_doc is not None:
            on_doc(i)
    return examples


def _finds_entities(nlp: Language, name: str) -> bool:
    assigns = nlp.get_pipe_meta(name).assigns
    return any(a == "doc.ents" or a.startswith(("doc.spans", "token.ent_")) for a in assigns)


def predict_on_gold_entities(nlp: Language, gold_docs: Sequence[Doc], batch_size: Optional[int] = None,
                             on_doc: OnDoc = None) -> List[Example]:
    """Examples whose predicted side carries the gold entities (span group, `doc.ents`, values)
    and everything else from `nlp`, with the components that find entities or values left out:
    how the link component does given perfect entities."""
    examples = []
    for gold in gold_docs:
        doc = nlp.make_doc(gold.text)
        spans = [s for s in (doc.char_span(e.start_char, e.end_char, label=e.label_, kb_id=e.kb_id_, span_id=e.id_)
                             for e in entity_spans(gold)) if s is not None]
        doc.spans[SPAN_KEY] = spans
        if not spans_overlap(spans):
            doc.ents = spans
        examples.append(Example(doc, gold))
    disable = [name for name in nlp.pipe_names if _finds_entities(nlp, name)]
    with nlp.select_pipes(disable=disable):
        predicted = nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size or nlp.batch_size)
        for i, (eg, doc) in enumerate(zip(examples, predicted), 1):
            eg.predicted = doc
            if on_doc is not None:
                on_doc(i)
    return examples


def score_entities(examples: Sequence[Example]) -> Dict[str, Any]:
    """Strict entity P/R/F (`ents_*`, spaCy's definition) over `doc.spans["fgen"]`, else `doc.ents`,
    on both sides, so span-group and `doc.ents` pipelines are scored alike."""
    return Scorer.score_spans(examples, "ents", getter=lambda doc, attr: entity_spans(doc), has_annotation=None)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python numbers, containers kept."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def score_examples(nlp: Language, examples: Sequence[Example], scheme: Optional[Scheme] = None,
                   gold_entities: bool = False) -> Dict[str, Any]:
    """Every component's scores (`nlp.evaluate`-style), `ents_*`, the error classes (unless the
    entities are the gold ones) and the word-level scores of examples already predicted."""
    scores: Dict[str, Any] = dict(Scorer(nlp).score(examples))
    scores.update(score_entities(examples))
    if not gold_entities:
        scores["ents_errors"] = entity_errors(examples)
        scores["words_errors"] = word_errors(examples)
    scores.update(score_words(examples, scheme))
    return scores


def evaluate_docs(
    nlp: Language,
    gold_docs: Sequence[Doc],
    scheme: Optional[Scheme] = None,
    definitions: Optional[Path] = None,
    batch_size: Optional[int] = None,
    gold_entities: bool = False,
    on_doc: OnDoc = None,
) -> Dict[str, Any]:
    """Score `nlp` on `gold_docs`.

    nlp (Language): the pipeline.
    gold_docs (Sequence[Doc]): gold docs from scripts/convert.py or scripts/split.py.
    scheme (Optional[Scheme]): scheme of the word-level heads; else read from the docs'
        provenance and `definitions`, else derived from the labels and values in the docs.
    gold_entities (bool): give the pipeline the gold entities instead of running its entity and
        value components (`predict_on_gold_entities`): link scores with perfect entities.
    on_doc (Optional[Callable[[int], None]]): called with the docs done so far as each is
        predicted (e.g. `fgen.util.progress.Progress.update`).
    RETURNS (dict): every component's scores (`nlp.evaluate`-style), `ents_*` over the
        predicted entities, `ents_errors` (error classes per category, `entity_errors`),
        `words_<head>_p/r/f`, `words_errors` (the category head's wrong words by kind,
        `word_errors`) and `speed` (words per second). When only some gold docs have entities
        (the corpus keeps abstracts annotated as holding none), `docs_with_entities` holds the
        same scores over those docs alone, as the original project scored (its test splits,
        withheld here, hold annotated abstracts only).
    """
    if scheme is None:
        scheme = scheme_of_docs(gold_docs, definitions)
    start = time.perf_counter()
    predict = predict_on_gold_entities if gold_entities else predict_examples
    examples = predict(nlp, gold_docs, batch_size, on_doc)
    seconds = time.perf_counter() - start
    scores = score_examples(nlp, examples, scheme, gold_entities)
    with_entities = [eg for eg in examples if has_entities(eg.reference)]
    if 0 < len(with_entities) < len(examples):
        scores["docs_with_entities"] = score_examples(nlp, with_entities, scheme, gold_entities)
        scores["docs_with_entities"]["docs"] = len(with_entities)
    n_words = sum(len(eg.predicted) for eg in examples)
    scores["speed"] = n_words / seconds if seconds > 0 else 0.0
    return _plain(scores)

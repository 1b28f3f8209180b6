"""Before/after scores of a retrain on new annotations, on the same dev abstracts.

Adding abstracts changes the seeded split (`fgen.corpus.splits`: dev is a share of all docs), so
the dev split before and the one after differ a little. The abstracts in both are held out from
both pipelines' training, so both are scored on those (`shared_dev`): the same docs, neither
model trained on them.
"""
from typing import Any, Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from fgen.corpus.splits import group_key
from fgen.scoring.evaluation import evaluate_docs

# The headline scores: entities, values, statements (end to end), the old word-level F.
METRICS = ("ents_f", "values_f", "links_f", "words_category_f")


def shared_dev(dev_sets: Sequence[Sequence[Doc]]) -> List[Doc]:
    """The docs of the first dev set whose group (PMID, else source, else text) is in every other, in order."""
    keys = [{group_key(doc) for doc in docs} for docs in dev_sets[1:]]
    return [doc for doc in dev_sets[0] if all(group_key(doc) in k for k in keys)]


def compare(before: Language, after: Language, docs: Sequence[Doc], **options: Any) -> Dict[str, Dict[str, float]]:
    """`METRICS` of both pipelines on `docs` (options: see `evaluate_docs`).

    RETURNS (Dict[str, Dict[str, float]]): {"before": ..., "after": ...}; a metric a pipeline
        does not produce is left out.
    """
    result = {}
    for name, nlp in (("before", before), ("after", after)):
        scores = evaluate_docs(nlp, docs, **options)
        result[name] = {m: float(scores[m]) for m in METRICS if isinstance(scores.get(m), (int, float))}
    return result


def comparison_markdown(scores: Dict[str, Dict[str, float]], n_docs: int, before: str, after: str) -> str:
    """A Markdown table: one row per metric, before, after and the change (F x 100)."""
    lines = [f"Retrain on new annotations: {n_docs} dev abstracts held out from both pipelines.", "",
             f"before: `{before}`; after: `{after}`", "",
             "| score | before | after | change |", "| --- | ---: | ---: | ---: |"]
    for metric in METRICS:
        if metric in scores["before"] and metric in scores["after"]:
            b, a = 100 * scores["before"][metric], 100 * scores["after"][metric]
            lines.append(f"| {metric} | {b:.1f} | {a:.1f} | {a - b:+.1f} |")
    return "\n".join(lines) + "\n"

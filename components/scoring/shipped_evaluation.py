"""What a packaged pipeline's meta.json says about its accuracy: the evaluations of the very
folder it packages (`scripts/evaluate.py` output), never a training-time score.

`scripts/evaluate.py` records `model_fingerprint`, the `folder_hash` of the pipeline folder it
scored (meta.json left out: packaging and assembly rewrite it). `scripts/package.py --metrics FILE`
(repeatable) accepts an evaluation only if that fingerprint is the packaged folder's and the
pipeline predicted its own entities (`--gold-entities` scores are not what users get).

meta["performance"] is flat, as spaCy's README table and tools read it: the numeric top-level
scores of the first file, then, from each later file, the keys not given yet (e.g. scores only
the link-annotated dev set has); nested tables (per type, errors, `docs_with_entities`) stay in
the metrics files. meta["evaluation"] lists each file: its data, docs, scheme, entities
(predicted) and the `performance_keys` taken from it. Without any file, meta has no
`performance` at all.
"""
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from fgen.util.hashing import folder_hash

EVALUATION_FIELDS = ("data", "docs", "scheme", "entities")


class ShippedEvaluationError(ValueError):
    """A metrics file that cannot describe the packaged pipeline; the message names the file."""


def numeric_scores(scores: Dict[str, Any]) -> Dict[str, float]:
    """The top-level scores that are finite numbers (not flags, tables or missing values).

    scores (Dict[str, Any]): the "scores" of an evaluation.
    RETURNS (Dict[str, float]): key -> number, in the given order.
    """
    return {key: value for key, value in scores.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def _read(path: Path, fingerprint: str) -> Dict[str, Any]:
    try:
        metrics = json.loads(path.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ShippedEvaluationError(f"{path}: cannot read the metrics ({type(err).__name__}: {err})") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("scores"), dict):
        raise ShippedEvaluationError(f"{path}: not the output of scripts/evaluate.py (no scores)")
    if not metrics.get("model_fingerprint"):
        raise ShippedEvaluationError(f"{path}: no model fingerprint (evaluate the pipeline folder with scripts/evaluate.py)")
    if metrics["model_fingerprint"] != fingerprint:
        raise ShippedEvaluationError(f"{path}: metrics of another model ({metrics.get('model')}, "
                                     "not the folder being packaged as it is now)")
    if metrics.get("entities") != "predicted":
        raise ShippedEvaluationError(f"{path}: scored on gold entities, not on the pipeline's own predictions")
    return metrics


def shipped_evaluation(model: Union[str, Path], metrics: Sequence[Union[str, Path]]) -> Dict[str, Any]:
    """The performance and evaluation entries of the meta of a package of `model`.

    model (Union[str, Path]): the pipeline folder being packaged.
    metrics (Sequence[Union[str, Path]]): scripts/evaluate.py outputs of that folder, the first
        one's scores first.
    RETURNS (Dict[str, Any]): {"performance": {key: number}, "evaluation": [one dict per file]}.
    RAISES (ShippedEvaluationError): a file is unreadable, of another model, or scored on gold entities.
    """
    fingerprint = folder_hash(model)
    performance: Dict[str, float] = {}
    evaluation: List[Dict[str, Any]] = []
    for path in map(Path, metrics):
        found = _read(path, fingerprint)
        taken = {k: v for k, v in numeric_scores(found["scores"]).items() if k not in performance}
        performance.update(taken)
        evaluation.append({**{k: found.get(k) for k in EVALUATION_FIELDS}, "performance_keys": sorted(taken)})
    return {"performance": performance, "evaluation": evaluation}


def with_shipped_evaluation(meta: Dict[str, Any], shipped: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A copy of `meta` whose performance and evaluation are `shipped`'s, or absent without it.

    meta (Dict[str, Any]): a pipeline's meta.json.
    shipped (Optional[Dict[str, Any]]): `shipped_evaluation`'s result, None when there is none.
    RETURNS (Dict[str, Any]): the new meta; `meta` itself is not changed.
    """
    new = {k: v for k, v in meta.items() if k not in ("performance", "evaluation")}
    if shipped is not None:
        new["performance"] = dict(shipped["performance"])
        new["evaluation"] = [dict(entry) for entry in shipped["evaluation"]]
    return new

"""Tests for fgen.scoring.shipped_evaluation: a package's meta holds the evaluations of the very
folder it packages, never a training-time score."""
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from fgen.scoring.shipped_evaluation import ShippedEvaluationError, shipped_evaluation, with_shipped_evaluation
from fgen.util.hashing import folder_hash


def model_folder(root: Path, weights: bytes = b"weights") -> Path:
    (root / "fgen_ner").mkdir(parents=True)
    (root / "fgen_ner" / "model").write_bytes(weights)
    (root / "config.cfg").write_text("[nlp]\n")
    (root / "meta.json").write_text(json.dumps({"performance": {"ents_f": 0.99}}))  # training's
    return root


def metrics_file(path: Path, model: Path, scores: Dict[str, Any], **fields: Any) -> Path:
    metrics = {"model": str(model), "data": f"corpus/{path.stem}.spacy", "docs": 3, "scheme": "v2",
               "pipeline": ["fgen_ner"], "entities": "predicted", "model_fingerprint": folder_hash(model), "scores": scores}
    path.write_text(json.dumps({**metrics, **fields}))
    return path


DEV = {"ents_f": 0.5, "ents_p": 0.25, "ents_r": 1.0, "links_f": 0.0, "speed": 812.0,
       "ents_per_type": {"EFFECT": {"f": 0.5}}, "docs_with_entities": {"ents_f": 0.75}, "note": "text", "missing": None}
LINKS = {"ents_f": 0.125, "links_f": 0.375, "link_pairs_f": 0.625}


def test_performance_is_the_evaluations_numeric_scores(tmp_path):
    model = model_folder(tmp_path / "model")
    dev = metrics_file(tmp_path / "dev.json", model, DEV)
    links = metrics_file(tmp_path / "links.json", model, LINKS)
    shipped = shipped_evaluation(model, [dev, links])
    # the first file's top-level numbers; of a later file, only the keys not given yet
    assert shipped["performance"] == {"ents_f": 0.5, "ents_p": 0.25, "ents_r": 1.0, "links_f": 0.0, "speed": 812.0,
                                      "link_pairs_f": 0.625}
    assert [e["data"] for e in shipped["evaluation"]] == ["corpus/dev.spacy", "corpus/links.spacy"]
    assert shipped["evaluation"][0]["docs"] == 3 and shipped["evaluation"][0]["entities"] == "predicted"
    assert shipped["evaluation"][0]["scheme"] == "v2"
    assert shipped["evaluation"][1]["performance_keys"] == ["link_pairs_f"]
    meta = with_shipped_evaluation({"name": "pipeline", "performance": {"ents_f": 0.99}}, shipped)
    assert meta["performance"] == shipped["performance"] and meta["evaluation"] == shipped["evaluation"]
    assert meta["name"] == "pipeline"


def test_no_metrics_no_performance(tmp_path):
    meta = {"name": "pipeline", "performance": {"ents_f": 0.99}, "evaluation": [{"data": "old"}]}
    stripped = with_shipped_evaluation(meta, None)
    assert "performance" not in stripped and "evaluation" not in stripped and stripped["name"] == "pipeline"
    assert meta["performance"] == {"ents_f": 0.99}  # the given meta is left as it was


def test_metrics_of_another_model_are_refused(tmp_path):
    model = model_folder(tmp_path / "model")
    other = model_folder(tmp_path / "other", weights=b"other weights")
    dev = metrics_file(tmp_path / "dev.json", model, DEV)
    foreign = metrics_file(tmp_path / "foreign.json", other, LINKS)
    with pytest.raises(ShippedEvaluationError, match=r"foreign\.json: metrics of another model"):
        shipped_evaluation(model, [dev, foreign])
    # the same model with a rewritten meta.json is the same model; changed weights are not
    (model / "meta.json").write_text("{}")
    assert shipped_evaluation(model, [dev])["performance"]["ents_f"] == 0.5
    (model / "fgen_ner" / "model").write_bytes(b"retrained")
    with pytest.raises(ShippedEvaluationError, match=r"dev\.json: metrics of another model"):
        shipped_evaluation(model, [dev])


@pytest.mark.parametrize("fields,reason", [
    ({"model_fingerprint": None}, "no model fingerprint"),
    ({"entities": "gold"}, "gold entities"),
    ({"scores": []}, "not the output of scripts/evaluate.py"),
])
def test_unfit_metrics_are_refused(tmp_path, fields, reason):
    model = model_folder(tmp_path / "model")
    fields = dict(fields)
    bad = metrics_file(tmp_path / "bad.json", model, fields.pop("scores", DEV), **fields)
    with pytest.raises(ShippedEvaluationError, match=rf"bad\.json: .*{reason}"):
        shipped_evaluation(model, [bad])


def test_unreadable_metrics_are_refused(tmp_path):
    model = model_folder(tmp_path / "model")
    (tmp_path / "torn.json").write_text('{"scores": ')
    for path in (tmp_path / "torn.json", tmp_path / "absent.json"):
        with pytest.raises(ShippedEvaluationError, match=rf"{path.name}: "):
            shipped_evaluation(model, [path])

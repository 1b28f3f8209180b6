"""The frozen encoder on ONNX Runtime (onnx_encoder.py), on the tiny random BERT: features match
PyTorch fp32 on padded batches of mixed lengths, the export is stored with the pipeline and used
when loaded, and the runtime choice falls back or fails as documented."""
import copy
import pickle

import numpy
import pytest
import spacy

from fgen.pipeline.layers import onnx_encoder
from fgen.pipeline.layers.encoder_features import enable_fine_tuning, pipeline_features_nodes
from fgen.pipeline.layers.onnx_encoder import (
    ENV_VARIABLE, export_onnx, runtime_state, set_encoder_runtime, store_onnx, stored_variants,
)

from ...conftest import TEXT, run_script
from .test_encoder_features import MIXED_LENGTHS, make_nlp, tiny_bert  # noqa: F401 (fixture)

pytest.importorskip("onnxruntime")
# fp32 ONNX vs PyTorch fp32: the same arithmetic in another order.
FP32_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(tiny_bert):  # noqa: F811
    """A tiny pipeline (strided windows of 8 tokens, layers -2 and -1) with fp32 and int8 stored."""
    nlp = make_nlp(tiny_bert, layers=(0, -2, -1))
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    store_onnx(node, export_onnx(onnx_encoder_module(node), int8=True))
    return nlp


def onnx_encoder_module(node):
    return next(shim._model for layer in node.layers[0].walk() for shim in layer.shims)


def features(nlp, choice, texts=MIXED_LENGTHS):
    (node,) = pipeline_features_nodes(nlp)
    set_encoder_runtime(node, choice)
    try:
        return node.predict([nlp.make_doc(text) for text in texts])
    finally:
        set_encoder_runtime(node, None)


def test_fp32_matches_pytorch_on_padded_batches(exported):
    torch_features = features(exported, "torch")
    onnx_features = features(exported, "onnx")
    (node,) = pipeline_features_nodes(exported)
    assert runtime_state(node).variant == "fp32"
    assert [f.shape for f in onnx_features] == [f.shape for f in torch_features]
    for got, expected in zip(onnx_features, torch_features):
        numpy.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE, rtol=0)
    # a doc alone (no padding) gets what it gets in the mixed batch
    numpy.testing.assert_allclose(features(exported, "onnx", MIXED_LENGTHS[:1])[0], onnx_features[0], atol=1e-5)


def test_int8_is_close_to_fp32_but_not_equal(exported):
    fp32 = numpy.concatenate(features(exported, "torch"))
    int8 = numpy.concatenate(features(exported, "onnx-int8"))
    assert not numpy.allclose(fp32, int8, atol=1e-6)  # it is quantised
    rows = (fp32 * int8).sum(1) / (numpy.linalg.norm(fp32, axis=1) * numpy.linalg.norm(int8, axis=1) + 1e-12)
    assert rows[numpy.linalg.norm(fp32, axis=1) > 0].mean() > 0.9


def test_stored_with_the_pipeline_and_used_when_loaded(exported, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    exported.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    (node,) = pipeline_features_nodes(loaded)
    assert stored_variants(node) == ["fp32", "int8"]
    assert runtime_state(node).session is None  # nothing opened (or exported) at load time
    got = node.predict([loaded.make_doc(TEXT)])[0]
    assert runtime_state(node).variant == "fp32"  # "auto" runs the stored default on CPU
    numpy.testing.assert_allclose(got, features(exported, "torch", [TEXT])[0], atol=FP32_TOLERANCE, rtol=0)
    # the environment variable picks another runtime
    monkeypatch.setenv(ENV_VARIABLE, "onnx-int8")
    node.predict([loaded.make_doc(TEXT)])
    assert runtime_state(node).variant == "int8"


def test_the_session_never_travels_but_the_export_does(exported):
    (node,) = pipeline_features_nodes(exported)
    features(exported, "onnx")
    assert runtime_state(node).session is not None
    assert pickle.loads(pickle.dumps(runtime_state(node))).session is None
    assert runtime_state(copy.deepcopy(node)).session is None
    assert stored_variants(copy.deepcopy(node)) == ["fp32", "int8"]



def test_falls_back_to_pytorch_or_fails_when_asked_for_what_is_missing(tiny_bert, monkeypatch):  # noqa: F811
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    node.predict([nlp.make_doc(TEXT)])
    assert runtime_state(node).session is None  # nothing stored: PyTorch
    monkeypatch.setenv(ENV_VARIABLE, "onnx")
    with pytest.raises(ValueError, match="stores no fp32 ONNX encoder"):
        node.predict([nlp.make_doc(TEXT)])
    monkeypatch.setenv(ENV_VARIABLE, "tensorrt")
    with pytest.raises(ValueError, match=ENV_VARIABLE):
        node.predict([nlp.make_doc(TEXT)])
    store_onnx(node, {"fp32": b"not opened"}, share_weights=False)
    monkeypatch.setattr(onnx_encoder, "_onnxruntime", lambda: None)
    monkeypatch.setenv(ENV_VARIABLE, "auto")
    node.predict([nlp.make_doc(TEXT)])  # onnxruntime missing: PyTorch
    monkeypatch.setenv(ENV_VARIABLE, "onnx")
    with pytest.raises(ImportError, match="needs onnxruntime"):
        node.predict([nlp.make_doc(TEXT)])


def test_fine_tuning_drops_the_export(tiny_bert):  # noqa: F811
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    store_onnx(node, {"fp32": b"exported from the frozen weights"}, share_weights=False)
    enable_fine_tuning(node)
    assert stored_variants(node) == []


def test_export_script_writes_a_pipeline_that_runs_its_onnx_encoder(tiny_bert, tmp_path, monkeypatch):  # noqa: F811
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    run = run_script("export_onnx", tmp_path / "model", tmp_path / "onnx", "--int8", "--default", "int8")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "onnx: largest feature difference from PyTorch fp32" in run.stdout
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    (node,) = pipeline_features_nodes(spacy.load(tmp_path / "onnx"))
    assert stored_variants(node) == ["fp32", "int8"]
    node.predict([nlp.make_doc(TEXT)])
    assert runtime_state(node).variant == "int8"
    # nothing to export, or a default that is not exported: exit 1, nothing written
    assert run_script("export_onnx", tmp_path / "model", tmp_path / "none", "--default", "int8").returncode == 1
    blank = spacy.blank("en")
    blank.to_disk(tmp_path / "blank")
    blank_files = list((tmp_path / "blank").iterdir())
    assert run_script("export_onnx", tmp_path / "blank", tmp_path / "none").returncode == 1
    assert not (tmp_path / "none").exists()
    # the workflow's step on a pipeline without a frozen encoder (the CNN's): left as it is
    assert run_script("export_onnx", tmp_path / "blank", tmp_path / "blank", "--if-encoder").returncode == 0
    assert sorted(p.name for p in (tmp_path / "blank").iterdir()) == sorted(p.name for p in blank_files)


def test_a_forked_process_opens_its_own_session(exported, monkeypatch):
    (node,) = pipeline_features_nodes(exported)
    features(exported, "onnx")
    opened = runtime_state(node).session
    features(exported, "onnx")
    assert runtime_state(node).session is opened  # one session per process
    monkeypatch.setattr(onnx_encoder.os, "getpid", lambda: -1)  # as in a child forked after a call
    forked = features(exported, "onnx")
    assert runtime_state(node).session is not opened
    numpy.testing.assert_allclose(forked[0], features(exported, "torch")[0], atol=FP32_TOLERANCE, rtol=0)


def test_fp32_is_stored_without_the_weights_it_shares_with_pytorch(tiny_bert, tmp_path):  # noqa: F811
    nlp = make_nlp(tiny_bert, layers=(0, -2, -1))
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    nlp.to_disk(tmp_path / "torch")
    whole = export_onnx(onnx_encoder_module(node))["fp32"]
    store_onnx(node, {"fp32": whole})
    stored = node.attrs[onnx_encoder.ONNX_ATTR]
    weights = sum(p.numel() * 4 for p in onnx_encoder_module(node).parameters())
    assert len(stored["variants"]["fp32"]) < len(whole) - 0.9 * weights
    assert {source for _, source in stored["torch_weights"]["fp32"]} >= {
        name for name, p in onnx_encoder_module(node).named_parameters() if p.dim() == 2 and "pooler" not in name}
    nlp.to_disk(tmp_path / "onnx")
    size = {name: (tmp_path / name / "tok2vec" / "model").stat().st_size for name in ("torch", "onnx")}
    assert size["onnx"] - size["torch"] < 0.5 * weights  # the weights are saved once (the graph is the rest)
    loaded = spacy.load(tmp_path / "onnx")
    for got, expected in zip(features(loaded, "onnx"), features(nlp, "torch")):
        numpy.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE, rtol=0)


def test_a_variant_stored_whole_still_runs(tiny_bert):  # noqa: F811
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    (node,) = pipeline_features_nodes(nlp)
    store_onnx(node, export_onnx(onnx_encoder_module(node)), share_weights=False)
    assert "fp32" not in node.attrs[onnx_encoder.ONNX_ATTR]["torch_weights"]
    for got, expected in zip(features(nlp, "onnx"), features(nlp, "torch")):
        numpy.testing.assert_allclose(got, expected, atol=FP32_TOLERANCE, rtol=0)

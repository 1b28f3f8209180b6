"""fgen.numpy_matmul.v1: the pipeline's CPU nodes multiply with numpy, per pipeline, same predictions."""
import numpy
import spacy
from thinc.api import NumpyOps, get_current_ops

from fgen.pipeline.layers.cpu_matmul import use_numpy_matmul

from .test_encoder_features import TRAIN_DATA, disable_caches, tiny_bert, train_with_cache  # noqa: F401


def ops_of(nlp):
    return [node.ops for _, proc in nlp.components if hasattr(proc, "model") for node in proc.model.walk()]


def test_same_predictions_with_numpy_products_and_nothing_global(tiny_bert, tmp_path):  # noqa: F811
    nlp = train_with_cache(tiny_bert, steps=30)
    disable_caches(nlp)
    texts = [text for text, _ in TRAIN_DATA]
    before = list(nlp.pipe(texts))
    other = spacy.blank("en")
    other.add_pipe("tok2vec")
    use_numpy_matmul(nlp)
    assert all(not ops.use_blis for ops in ops_of(nlp))
    assert all(ops.use_blis for ops in ops_of(other))  # another pipeline keeps its ops
    assert not isinstance(get_current_ops(), NumpyOps) or get_current_ops().use_blis  # nothing global
    after = list(nlp.pipe(texts))
    for a, b in zip(before, after):
        numpy.testing.assert_allclose(a.tensor, b.tensor, atol=1e-4)
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]


def test_set_by_the_config_and_kept_when_loaded(tiny_bert, tmp_path):  # noqa: F811
    nlp = train_with_cache(tiny_bert, steps=5)
    disable_caches(nlp)
    nlp.config["nlp"]["after_pipeline_creation"] = {"@callbacks": "fgen.numpy_matmul.v1"}
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert all(not ops.use_blis for ops in ops_of(loaded))
    assert all(ops.use_blis for ops in ops_of(spacy.load(tmp_path / "model", config={"nlp": {"after_pipeline_creation": None}})))

"""Loading a subset's trained pipeline for scoring and selection (fgen.runs.subset_training)."""
import numpy

from fgen.pipeline.layers.encoder_features import feature_cache, pipeline_features_nodes
from fgen.runs.subset_training import load_with_cache

from ..pipeline.layers.test_encoder_features import TRAIN_DATA, make_nlp, tiny_bert  # noqa: F401


def test_a_loaded_pipeline_reads_the_training_cache_and_predicts_the_same(tiny_bert, tmp_path):  # noqa: F811
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    texts = [text for text, _ in TRAIN_DATA]
    live = load_with_cache(tmp_path / "model")
    assert feature_cache(pipeline_features_nodes(live)[0]) is None
    cached = load_with_cache(tmp_path / "model", tmp_path / "cache")
    (node,) = pipeline_features_nodes(cached)
    assert feature_cache(node) is not None
    first = [doc.tensor for doc in cached.pipe(texts)]
    assert any((tmp_path / "cache").rglob("*")), "the features were not written to the cache folder"
    again = [doc.tensor for doc in load_with_cache(tmp_path / "model", tmp_path / "cache").pipe(texts)]
    expected = [doc.tensor for doc in live.pipe(texts)]
    for a, b, c in zip(first, again, expected):
        numpy.testing.assert_allclose(a, c, atol=1e-5)
        numpy.testing.assert_allclose(b, c, atol=1e-5)

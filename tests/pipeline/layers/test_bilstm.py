"""fgen.bilstm_encoder.v1: spaCy's BiLSTM encoder with each doc packed, so padding never reaches it."""
import numpy
from spacy.ml.models.tok2vec import BiLSTMEncoder
from thinc.api import fix_random_seed

import fgen  # noqa: F401
from fgen.pipeline.layers.bilstm import build_bilstm_encoder

WIDTH = 8


def batch(lengths, seed: int = 0):
    rng = numpy.random.RandomState(seed)
    return [rng.normal(size=(n, WIDTH)).astype("f") for n in lengths]


def test_forward_and_backward_of_a_doc_are_those_it_has_alone():
    fix_random_seed(0)
    model = build_bilstm_encoder(WIDTH, depth=2, dropout=0.0)
    Xs = batch([5, 0, 9, 1, 3])
    model.initialize(X=Xs)
    d_Ys = batch([len(X) for X in Xs], seed=1)
    Ys, backprop = model.begin_update(Xs)
    d_Xs = backprop(d_Ys)
    for X, Y, d_Y, d_X in zip(Xs, Ys, d_Ys, d_Xs):
        (Y_alone,), backprop_alone = model.begin_update([X])
        assert Y.shape == (len(X), WIDTH)
        numpy.testing.assert_allclose(Y, Y_alone, rtol=1e-5, atol=1e-6)
        numpy.testing.assert_allclose(d_X, backprop_alone([d_Y])[0], rtol=1e-5, atol=1e-6)
    assert [Y.shape for Y in model.predict(batch([0, 0]))] == [(0, WIDTH), (0, WIDTH)]


def test_loads_the_weights_of_spacys_bilstm_encoder():
    """A pipeline trained with spacy.TorchBiLSTMEncoder.v1 can name this encoder instead: same
    weights, and the same vectors wherever spaCy's reads no padding (a doc alone)."""
    fix_random_seed(0)
    spacys = BiLSTMEncoder(WIDTH, 1, 0.0)  # spacy.TorchBiLSTMEncoder.v1
    Xs = batch([4, 7])
    spacys.initialize(X=Xs)
    ours = build_bilstm_encoder(WIDTH, 1, 0.0)
    ours.initialize(X=Xs)
    ours.from_bytes(spacys.to_bytes())
    for X in Xs:
        numpy.testing.assert_allclose(ours.predict([X])[0], spacys.predict([X])[0], rtol=1e-5, atol=1e-6)
    # spaCy's gives the shorter doc other vectors next to a longer one; ours does not
    assert not numpy.allclose(spacys.predict(Xs)[0], spacys.predict(Xs[:1])[0], atol=1e-4)
    numpy.testing.assert_allclose(ours.predict(Xs)[0], ours.predict(Xs[:1])[0], rtol=1e-5, atol=1e-6)


def test_no_layers_is_the_identity():
    Xs = batch([3])
    numpy.testing.assert_array_equal(build_bilstm_encoder(WIDTH, 0, 0.0).predict(Xs)[0], Xs[0])


def test_the_lstm_steps_run_on_one_thread(monkeypatch):
    """The step loop works on tiny tensors, where a second intra-op thread only adds
    synchronisation (on a busy machine many times slower); the setting is restored after."""
    import torch

    seen = []
    forward = torch.nn.LSTM.forward

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.LSTM, "forward", recording)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = build_bilstm_encoder(WIDTH, depth=1, dropout=0.0)
        Xs = batch([4, 0, 6])
        model.initialize(X=Xs)
        model.predict(Xs)
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)

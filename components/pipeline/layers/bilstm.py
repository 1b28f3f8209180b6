"""`fgen.bilstm_encoder.v1`: a bidirectional LSTM over each doc alone, whatever its batch.

`spacy.TorchBiLSTMEncoder.v1` pads the docs of a batch to the longest and runs the LSTM over the
padding: the backward direction of a shorter doc starts on the padding's zeros, so a doc's
vectors (and the entities decoded from them) change with the other docs of its batch, and with
`--batch-size`, `--n-process` or a resume point. This encoder packs the padded batch
(`torch.nn.utils.rnn.pack_padded_sequence`), so each direction reads exactly its doc's tokens:
a doc gets the vectors it gets alone.

Same layers, weights and serialized form as `spacy.TorchBiLSTMEncoder.v1` (a `torch.nn.LSTM` in
thinc's `with_padded` wrappers): a pipeline trained with spaCy's encoder loads with this one
when its config names `fgen.bilstm_encoder.v1` instead (its longest doc of a batch, and any doc
alone, get the same vectors as before).

The LSTM's step loop runs on one CPU thread (`small_op_threads`, as the CRF's): each step works
on a few docs' tiny tensors, where a second intra-op thread only adds synchronisation; with the
encoder on ONNX Runtime the three members' BiLSTMs on two threads cost more than the encoder.
"""
from typing import Callable, List, Tuple

import spacy
import torch
from thinc.api import ArgsKwargs, Model, PyTorchRNNWrapper, noop, torch2xp, with_padded, xp2torch
from thinc.types import Floats2d, Padded
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from fgen.pipeline.ner.crf import small_op_threads


class PackedLSTM(torch.nn.LSTM):
    """`torch.nn.LSTM` that takes a padded (T, B, nI) batch with its lengths and packs it, so no
    direction reads padding; padded positions of the output, and empty docs, are zeros. Its state
    dict is the LSTM's."""

    def forward(self, X: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        width = self.hidden_size * (2 if self.bidirectional else 1)
        # PyTorch packs no empty sequence: run the others, empty docs keep zeros.
        nonempty = (lengths > 0).nonzero().flatten()
        if nonempty.shape[0] == lengths.shape[0]:
            packed = pack_padded_sequence(X, lengths, enforce_sorted=False)
            with small_op_threads(X.device):
                output = super().forward(packed)[0]
            return pad_packed_sequence(output, total_length=X.shape[0])[0]
        Y = X.new_zeros((X.shape[0], X.shape[1], width))
        if not nonempty.shape[0]:
            return Y + X.sum() * 0  # zeros, still in the graph: thinc backpropagates through every output
        columns = nonempty.to(X.device)
        Y[:, columns] = self.forward(X[:, columns], lengths[nonempty])
        return Y


def _convert_inputs(model: Model, Xp: Padded, is_train: bool) -> Tuple[ArgsKwargs, Callable[[ArgsKwargs], Padded]]:
    device = model.shims[0].device
    X = xp2torch(Xp.data, requires_grad=True, device=device)
    # pack_padded_sequence wants the lengths on the CPU.
    lengths = torch.as_tensor(model.ops.to_numpy(Xp.lengths), dtype=torch.int64)

    def backprop(d_inputs: ArgsKwargs) -> Padded:
        return Padded(torch2xp(d_inputs.args[0], ops=model.ops), Xp.size_at_t, Xp.lengths, Xp.indices)

    return ArgsKwargs(args=(X, lengths), kwargs={}), backprop


def _convert_outputs(model: Model, inputs_outputs: Tuple[Padded, torch.Tensor], is_train: bool):
    Xp, Y = inputs_outputs
    device = model.shims[0].device

    def backprop(dYp: Padded) -> ArgsKwargs:
        return ArgsKwargs(args=(Y,), kwargs={"grad_tensors": xp2torch(dYp.data, device=device)})

    return Padded(torch2xp(Y, ops=model.ops), Xp.size_at_t, Xp.lengths, Xp.indices), backprop


@spacy.registry.architectures("fgen.bilstm_encoder.v1")
def build_bilstm_encoder(width: int, depth: int, dropout: float) -> Model[List[Floats2d], List[Floats2d]]:
    """Bidirectional LSTM layers over each doc's vectors, blind to the rest of the batch.

    width (int): the input and output width (each direction has width / 2).
    depth (int): the number of LSTM layers; 0: the input unchanged.
    dropout (float): dropout on the outputs of each LSTM layer but the last.
    RETURNS (Model[List[Floats2d], List[Floats2d]]): one (n_tokens, width) array per doc.
    """
    if depth == 0:
        return noop()
    lstm = PyTorchRNNWrapper(PackedLSTM(width, width // 2, depth, bidirectional=True, dropout=dropout),
                             convert_inputs=_convert_inputs, convert_outputs=_convert_outputs)
    lstm.set_dim("nO", width)
    lstm.set_dim("nI", width)
    # Wrapped twice, as spaCy's BiLSTMEncoder wraps thinc's PyTorchLSTM: the same node tree, so
    # the same serialized form.
    return with_padded(with_padded(lstm))

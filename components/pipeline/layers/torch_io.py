"""Saving and loading the PyTorch modules behind fgen's Thinc models (PyTorchWrapper's
serialize_model / deserialize_model hooks)."""
from io import BytesIO
from typing import Any, Dict

import torch


def state_to_bytes(module: torch.nn.Module) -> bytes:
    """The module's state_dict as bytes."""
    buf = BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getvalue()


def state_from_bytes(data: bytes, device: torch.device) -> Dict[str, Any]:
    """A state_dict saved by `state_to_bytes`, on `device`. The caller sizes its module from it
    (fgen's modules learn their input sizes at initialize) before `load_state_dict`."""
    return torch.load(BytesIO(data), map_location=device)

"""State that belongs to one thinc model node but never travels with it.

A feature cache, a fine-tuning flag or an open ONNX Runtime session must live with the model
they serve (no process-global registries), yet must not be saved with it, nor be shared by a
copy or a pickle (e.g. the pipeline sent to a worker process): a `ModelState` in the node's
attrs is left out by `to_bytes`/`to_disk`, and a copy or a pickle starts from a fresh one.
"""
from typing import Type, TypeVar

from thinc.api import Model
from thinc.model import serialize_attr

State = TypeVar("State", bound="ModelState")


class ModelState:
    """Base class of per-node state that is never saved, copied or pickled: subclasses define
    their fields in `__init__` (without arguments)."""

    def __reduce__(self):
        return (type(self), ())

    def __deepcopy__(self, memo: dict) -> "ModelState":
        return type(self)()


@serialize_attr.register(ModelState)
def _not_saved(_: ModelState, value: ModelState, name: str, model: Model) -> bytes:
    raise TypeError("a model state is not saved")  # thinc leaves out attrs that raise TypeError


def model_state(model: Model, attr: str, kind: Type[State]) -> State:
    """The `kind` state in `model.attrs[attr]`, created on first use.

    model (Model): the node it belongs to.
    attr (str): the attr that holds it.
    kind (Type[ModelState]): its class.
    RETURNS (ModelState): the node's state.
    """
    state = model.attrs.get(attr)
    if not isinstance(state, kind):
        state = model.attrs[attr] = kind()
    return state

"""Loading a trained pipeline for the command-line tools, with one-line errors instead of tracebacks."""
import spacy
from spacy.language import Language


class PipelineLoadError(ValueError):
    """A GPU or pipeline that cannot be used; `str()` is one line `what: reason`."""


def use_device(gpu_id: int) -> None:
    """Allocate on GPU `gpu_id` from now on; -1 (or less) leaves the CPU.

    RAISES (PipelineLoadError): no cupy, or no such device.
    """
    if gpu_id >= 0:
        try:
            spacy.require_gpu(gpu_id)
        except Exception as err:  # ValueError, ImportError, CUDA errors: all mean "not usable"
            raise PipelineLoadError(f"--gpu-id {gpu_id}: cannot use the GPU ({err})") from None


def load_pipeline(model: str) -> Language:
    """`spacy.load(model)`: a pipeline folder or an installed package name.

    RAISES (PipelineLoadError): a missing folder, unknown package or factory, broken config or
        weights, with spaCy's reason on one line.
    """
    try:
        return spacy.load(model)
    except Exception as err:
        reason = " ".join(str(err).split())
        raise PipelineLoadError(f"{model}: cannot load the pipeline ({reason[:300]})") from None

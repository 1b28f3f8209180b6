"""Loading a trained pipeline for the command-line tools, with one-line errors instead of tracebacks.

Both annotate paths (`scripts/annotate.py` and the actors of `scripts/annotate_ray.py`) load
through `load_pipeline`, which refuses a pipeline that cannot produce fgen's annotations (a blank
pipeline would otherwise run and write empty records).
"""
from typing import List

import spacy
from spacy.language import Language

# Where a component says it writes fgen's entities (`fgen.doc_layout.SPAN_KEY` lives there):
# `fgen_ner` declares it; custom components do the same with `assigns=["doc.spans"]`.
ENTITY_ASSIGNS = "doc.spans"


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


def entity_writers(nlp: Language) -> List[str]:
    """The components of `nlp` that declare they write entities to `doc.spans` (as `fgen_ner` does)."""
    return [name for name in nlp.pipe_names
            if any(a == ENTITY_ASSIGNS or a.startswith(ENTITY_ASSIGNS + "[") for a in nlp.get_pipe_meta(name).assigns)]


def load_pipeline(model: str, require_fgen: bool = True) -> Language:
    """`spacy.load(model)`: a pipeline folder or an installed package name.

    model (str): the pipeline folder or package name.
    require_fgen (bool): refuse a pipeline without a component writing fgen's entities
        (`entity_writers`); False for tools that take any pipeline (the speed benchmark).
    RAISES (PipelineLoadError): a missing folder, unknown package or factory, broken config or
        weights, with spaCy's reason on one line; a pipeline without fgen's components.
    """
    try:
        nlp = spacy.load(model)
    except Exception as err:
        reason = " ".join(str(err).split())
        raise PipelineLoadError(f"{model}: cannot load the pipeline ({reason[:300]})") from None
    if require_fgen and not entity_writers(nlp):
        components = ", ".join(nlp.pipe_names) or "none"
        raise PipelineLoadError(
            f"{model}: not an fgen pipeline (no component writes entities to doc.spans, as fgen_ner does; "
            f"its components: {components}); pass a trained fgen pipeline"
        )
    return nlp

"""Matrix products on CPU through numpy's BLAS instead of thinc's bundled BLIS.

thinc's `NumpyOps` multiplies with the `blis` package; on the CPUs fgen was measured on, numpy's
OpenBLAS does the same product several times faster on one thread (docs/benchmarks.md, round
15), and the pipeline's biggest cost beyond the encoder is such products: the ensemble members'
projections of the encoder features. `fgen.numpy_matmul.v1` is an `[nlp] after_pipeline_creation`
callback: it gives every node of the pipeline's thinc models its own `NumpyOps(use_blis=False)`,
so nothing global changes (other pipelines in the process keep their ops) and models on a GPU
(`CupyOps`) are left as they are. The numbers are the same products in another summation order.
"""
from typing import Callable

import spacy
from spacy.language import Language
from thinc.api import Model, NumpyOps


def use_numpy_matmul(nlp: Language) -> Language:
    """Give the CPU nodes of `nlp`'s component models ops that multiply with numpy (no BLIS).

    RETURNS (Language): `nlp`, changed in place.
    """
    ops = NumpyOps(use_blis=False)
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                if type(node.ops) is NumpyOps and node.ops.use_blis:
                    node.ops = ops
    return nlp


@spacy.registry.callbacks("fgen.numpy_matmul.v1")
def create_numpy_matmul() -> Callable[[Language], Language]:
    """Callback for `[nlp] after_pipeline_creation`: `use_numpy_matmul`."""
    return use_numpy_matmul

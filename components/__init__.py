"""fgen: information extraction for functional-genomics abstracts, as spaCy components.

Importing the package registers the Doc extensions (`doc._.links`, `doc._.link_scores`,
`doc._.provenance`) and fgen's registered functions.
"""
from pathlib import Path as _Path

from .install_check import foreign_fgen_problem as _foreign_fgen_problem
from .install_check import shadowing_problem as _shadowing_problem

_problem = _foreign_fgen_problem() or _shadowing_problem(_Path(__file__).parent)
if _problem:
    raise ImportError(_problem)

from .doc_layout import SPAN_KEY, register_extensions  # noqa: E402
from .corpus import tokenizer  # noqa: F401,E402  registers fgen.customize_tokenizer.v1

register_extensions()

__version__ = "0.1.0"
__all__ = ["SPAN_KEY", "register_extensions", "__version__"]

"""fgen: information extraction for functional-genomics abstracts, as spaCy components.

Importing the package registers the Doc extensions (`doc._.links`, `doc._.link_scores`,
`doc._.provenance`) and fgen's registered functions.
"""
from .doc_layout import SPAN_KEY, register_extensions
from . import tokenizer  # noqa: F401  registers fgen.customize_tokenizer.v1

register_extensions()

__version__ = "0.1.0"
__all__ = ["SPAN_KEY", "register_extensions", "__version__"]

"""spaCy DocBin output: the annotated docs with their user data (links, confidences, provenance)."""
from pathlib import Path
from typing import Iterable, Tuple, Union

from spacy.tokens import Doc, DocBin

from fgen.util.atomic import write_bytes_atomic


def write_docbin(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write the docs as a DocBin with user data, atomically; returns the number written."""
    docbin = DocBin(store_user_data=True)
    for _, doc in docs:
        docbin.add(doc)
    write_bytes_atomic(path, docbin.to_bytes())
    return len(docbin)

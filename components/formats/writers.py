"""Which writer writes an output file, by format name or suffix. A new output format is one module
and one line here (MAE output, a folder, is annotate's: `fgen.annotate.outputs.write_mae`)."""
from pathlib import Path
from typing import Callable, Dict, Iterable, Tuple, Union

from spacy.tokens import Doc

from fgen.formats.bioc import write_bioc_json, write_bioc_xml
from fgen.formats.docbin import write_docbin
from fgen.formats.html import write_html
from fgen.formats.jsonl import write_jsonl
from fgen.formats.pubtator import write_pubtator

Docs = Iterable[Tuple[str, Doc]]
# Each writes (id, Doc) pairs to a file atomically and returns the number of docs written.
FILE_WRITERS: Dict[str, Callable[[Docs, Union[str, Path]], int]] = {
    "jsonl": write_jsonl,
    "html": write_html,
    "spacy": write_docbin,
    "bioc-xml": write_bioc_xml,
    "bioc-json": write_bioc_json,
    "pubtator": write_pubtator,
}
FORMAT_OF_SUFFIX = {
    ".jsonl": "jsonl", ".html": "html", ".htm": "html", ".spacy": "spacy", ".xml": "bioc-xml", ".json": "bioc-json", ".pubtator": "pubtator",
}
# The suffix of each file format's output (the Ray path names its outputs `<input stem><suffix>`).
SUFFIX_OF_FORMAT = {"jsonl": ".jsonl", "html": ".html", "spacy": ".spacy", "bioc-xml": ".xml", "bioc-json": ".json", "pubtator": ".pubtator"}


def write_file(fmt: str, docs: Docs, path: Union[str, Path], lang: str = "en") -> int:
    """Write `docs` to `path` in the file format `fmt` (a key of `FILE_WRITERS`), atomically.

    lang (str): the page's language (HTML).
    RETURNS (int): the number of docs written.
    RAISES (FormatError): a doc the format cannot hold (nothing is written then).
    """
    if fmt == "html":
        return write_html(docs, path, lang=lang)
    return FILE_WRITERS[fmt](docs, path)

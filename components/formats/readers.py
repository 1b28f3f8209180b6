"""Which reader reads an input file: by its suffix, and for XML by its root element (PubMed's
`PubmedArticleSet` or BioC's `collection`). A new input format is one module and one line here."""
from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fgen.formats.bioc import read_bioc_json, read_bioc_xml
from fgen.formats.jsonl import read_jsonl
from fgen.formats.pubmed import open_binary, read_pubmed_xml
from fgen.formats.pubtator import read_pubtator
from fgen.formats.records import Item, Problem
from fgen.formats.text import read_txt

# .xml and .xml.gz: PubMed XML or BioC XML; .json: BioC JSON; .pubtator: PubTator.
INPUT_SUFFIXES = (".txt", ".jsonl", ".xml", ".xml.gz", ".json", ".pubtator")


def input_suffix(path: Path) -> str:
    """The suffix that tells an input's kind, lower case: `.xml.gz` for gzipped XML."""
    name = path.name.lower()
    return ".xml.gz" if name.endswith(".xml.gz") else path.suffix.lower()


def xml_root(path: Path) -> str:
    """The tag of the root element of the XML file `path` (gzipped or not); "" when the file
    does not start with one (the reader then names the problem)."""
    try:
        with open_binary(path) as handle:
            for _, el in SafeET.iterparse(handle, events=("start",)):
                return el.tag
    except (ParseError, DefusedXmlException, EOFError, OSError, ValueError):
        pass
    return ""


def read_file(path: Path, whole_file: bool = False) -> Iterator[Item]:
    """Records of one input file, by suffix (`input_suffix`) and, for XML, root element."""
    suffix = input_suffix(path)
    if suffix == ".txt":
        return read_txt(path, whole_file=whole_file)
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return read_bioc_json(path)
    if suffix == ".pubtator":
        return read_pubtator(path)
    if suffix in (".xml", ".xml.gz"):
        return read_bioc_xml(path) if xml_root(path) == "collection" else read_pubmed_xml(path)
    return iter([Problem(str(path), f"skipped: not a {', '.join(INPUT_SUFFIXES)} file")])

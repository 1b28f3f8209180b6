"""BioC, XML and JSON, both ways, through the `bioc` library: the collection → document → passage
→ annotation model PubTator3, AIONER, BioREx and INCEpTION exchange.

Output: a document per record (id = record id), its passages (title, abstract, a structured
abstract's sections, with their offsets), an annotation per entity in the passage it starts in
(infons `type` = category, `value`, `confidence`, `value_confidence`; location offsets in the
document, as BioC counts them), and a relation per statement (infons `type` = "statement",
`score`) with a node per member whose role is its category.

Input: every document of a collection becomes a record whose text is its passages laid out at
their offsets (`fgen.formats.passages.lay_out`), so output offsets point into the original
passages. Annotations in the input are checked (inside the text), not used. The XML is checked
with defusedxml first (no entity declarations, well formed) and read only when the whole file is
sound, so a bad file gives one `FileProblem` and no records.
"""
import json
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union
from xml.etree.ElementTree import ParseError

import bioc
import defusedxml.ElementTree as SafeET
from bioc import biocjson, biocxml
from defusedxml import DefusedXmlException
from spacy.tokens import Doc

from fgen.formats.jsonl import doc_record
from fgen.formats.mae_doc import NOT_XML
from fgen.formats.passages import doc_passages, lay_out, passage_text
from fgen.formats.pubmed import open_binary
from fgen.formats.records import FileProblem, Item, Problem, Record
from fgen.util.atomic import atomic_binary_file, atomic_text_file

SOURCE = "fgen"
STATEMENT = "statement"


def _xml_text(text: str) -> str:
    # Characters XML cannot carry become spaces, so every offset stays right.
    return NOT_XML.sub(" ", text)


def _number(value: Optional[float]) -> Optional[str]:
    return None if value is None else repr(float(value))


def bioc_document(doc: Doc, doc_id: str) -> bioc.BioCDocument:
    """The BioC document of an annotated doc (see the module docstring); annotation ids are `T<n>`
    in `fgen.formats.jsonl.doc_record`'s entity order, relation ids `R<n>`."""
    record = doc_record(doc, doc_id)
    document = bioc.BioCDocument()
    document.id = _xml_text(str(doc_id))
    passages = []
    for passage in doc_passages(doc):
        out = bioc.BioCPassage()
        out.offset = passage.offset
        out.text = _xml_text(passage_text(doc, passage))
        out.infons = {"type": passage.type, **dict(passage.infons)}
        document.add_passage(out)
        passages.append((passage, out))
    for number, entity in enumerate(record["entities"]):
        annotation = bioc.BioCAnnotation()
        annotation.id = f"T{number}"
        annotation.text = _xml_text(entity["text"])
        infons = {"type": entity["label"], "value": entity["value"], "confidence": _number(entity["confidence"]),
                  "value_confidence": _number(entity["value_confidence"])}
        annotation.infons = {key: _xml_text(value) for key, value in infons.items() if value}
        annotation.add_location(bioc.BioCLocation(entity["start"], entity["end"] - entity["start"]))
        home = next((out for p, out in passages if p.offset <= entity["start"] < p.offset + max(p.length, 1)), passages[0][1])
        home.add_annotation(annotation)
    for number, link in enumerate(record["links"]):
        relation = bioc.BioCRelation()
        relation.id = f"R{number}"
        relation.infons = {"type": STATEMENT, **({"score": _number(link["score"])} if link["score"] is not None else {})}
        for role, index in link["members"].items():
            relation.add_node(bioc.BioCNode(f"T{index}", role))
        document.add_relation(relation)
    return document


def _collection_info() -> bioc.BioCCollection:
    collection = bioc.BioCCollection()
    collection.source = SOURCE
    collection.date = ""
    collection.key = ""
    return collection


def write_bioc_xml(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write the docs as one BioC XML collection, streamed, atomically; returns the number written."""
    count = 0
    with atomic_binary_file(path) as handle:
        writer = biocxml.BioCXMLDocumentWriter(handle, encoding="utf-8", standalone=None)  # standalone="yes" breaks DTD validation
        writer.write_collection_info(_collection_info())
        for doc_id, doc in docs:
            writer.write_document(bioc_document(doc, doc_id))
            count += 1
        writer.close()
    return count


def write_bioc_json(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write the docs as one BioC JSON collection, a document per line, atomically; returns the
    number written."""
    info = biocjson.toJSON(_collection_info())
    head = json.dumps({k: v for k, v in info.items() if k != "documents"}, ensure_ascii=False)[:-1]
    count = 0
    with atomic_text_file(path) as handle:
        handle.write(head + ', "documents": [\n')
        for doc_id, doc in docs:
            handle.write((",\n" if count else "") + biocjson.dumps(bioc_document(doc, doc_id), ensure_ascii=False))
            count += 1
        handle.write("\n]}\n")
    return count


def _record(document: bioc.BioCDocument, position: str) -> Item:
    """The record of a BioC document, or a Problem saying why there is none."""
    doc_id = str(document.id or "").strip()
    if not doc_id:
        return Problem(position, "document without an id")
    position = f"{position} (id {doc_id})"
    if not document.passages:
        return Problem(position, "no passages")
    pieces = []
    for passage in sorted(document.passages, key=lambda p: p.offset if isinstance(p.offset, int) else -1):
        if not isinstance(passage.offset, int):
            return Problem(position, f"passage offset {passage.offset!r} is not an integer")
        text = passage.text or ""
        if not text and passage.sentences:  # sentences instead of passage text
            try:
                text, _ = lay_out((s.offset - passage.offset, s.text or "", "", ()) for s in passage.sentences)
            except (TypeError, ValueError) as err:
                return Problem(position, f"passage at offset {passage.offset}: {err}")
        infons = {str(k): str(v) for k, v in passage.infons.items() if k != "type"}
        pieces.append((passage.offset, text, str(passage.infons.get("type") or "abstract"), tuple(infons.items())))
    try:
        text, passages = lay_out(pieces)
    except ValueError as err:
        return Problem(position, str(err))
    if not text.strip():
        return Problem(position, "empty text")
    for found in bioc.annotations(document):
        annotation = found.annotation
        for location in annotation.locations:
            if not (0 <= location.offset and location.offset + location.length <= len(text)):
                return Problem(position, f"annotation {annotation.id}: location {location.offset}+{location.length} is outside the text (0-{len(text)})")
    return Record(doc_id, text, position, pmid=doc_id if doc_id.isdigit() else None, passages=passages)


def _check_xml(path: Path) -> Optional[FileProblem]:
    # defusedxml over the whole file before the bioc library (lxml) reads any of it.
    try:
        with open_binary(path) as handle:
            for _, el in SafeET.iterparse(handle, events=("end",)):
                if el.tag == "document":
                    el.clear()
    except ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else "?"
        return FileProblem(f"{path}:{line}", f"malformed XML, file skipped ({err})")
    except DefusedXmlException as err:
        return FileProblem(str(path), f"unsafe XML, file skipped ({type(err).__name__})")
    except (EOFError, OSError) as err:
        return FileProblem(str(path), f"cannot read, file skipped ({' '.join(str(err).split()) or type(err).__name__})")
    return None


def _items(documents: Iterable[bioc.BioCDocument], path: Path) -> List[Item]:
    return [_record(document, f"{path}: document {number}") for number, document in enumerate(documents, 1)]


def read_bioc_xml(path: Union[str, Path]) -> Iterator[Item]:
    """Items of a BioC XML collection (`.xml`, `.xml.gz`): a Record per document (see `_record`),
    a Problem per document that cannot be one, a single FileProblem (and nothing else) for a file
    that is malformed, unsafe or not BioC."""
    path = Path(path)
    problem = _check_xml(path)
    if problem is not None:
        yield problem
        return
    try:
        with open_binary(path) as handle:
            items = _items(biocxml.BioCXMLDocumentReader(handle), path)
    except Exception as err:  # the bioc library raises what lxml and its own code raise
        yield FileProblem(str(path), f"not a BioC collection, file skipped ({type(err).__name__}: {' '.join(str(err).split())[:200]})")
        return
    if not items:
        yield FileProblem(str(path), "no BioC documents")
    yield from items


def read_bioc_json(path: Union[str, Path]) -> Iterator[Item]:
    """Items of a BioC JSON collection (`.json`), as `read_bioc_xml`."""
    path = Path(path)
    try:
        obj: Any = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        yield FileProblem(str(path), f"not UTF-8 (byte {err.start}), file skipped")
        return
    except json.JSONDecodeError as err:
        yield FileProblem(f"{path}:{err.lineno}", f"invalid JSON, file skipped ({err.msg} at column {err.colno})")
        return
    if not isinstance(obj, dict) or not isinstance(obj.get("documents"), list):
        yield FileProblem(str(path), 'not a BioC JSON collection (no "documents" list), file skipped')
        return
    items: List[Item] = []
    for number, document in enumerate(obj["documents"], 1):
        position = f"{path}: document {number}"
        try:
            parsed = biocjson.fromJSON(document, "BioCDocument") if isinstance(document, dict) else None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            parsed, why = None, f"{type(err).__name__}: {err}"
        else:
            why = "not a JSON object"
        items.append(_record(parsed, position) if parsed is not None else Problem(position, f"not a BioC document ({why})"))
    if not items:
        yield FileProblem(str(path), "no BioC documents")
    yield from items


def document_record(document: bioc.BioCDocument) -> Dict[str, Any]:
    """A BioC document fgen wrote, back in `fgen.formats.jsonl.doc_record`'s shape (without
    `text`): `id`, `entities` (start, end, text, label, value, confidences) in annotation order,
    and `links` ({"members": {role: entity index}, "score"}), so fgen → BioC → fgen can be compared.

    RAISES (KeyError): a relation node that names no annotation of the document.
    """
    found = [result.annotation for result in bioc.annotations(document)]
    index = {annotation.id: number for number, annotation in enumerate(found)}

    def number(value: Optional[str]) -> Optional[float]:
        return None if value is None else float(value)

    entities = [{
        "start": a.total_span.offset, "end": a.total_span.end, "text": a.text, "label": a.infons.get("type"),
        "value": a.infons.get("value", ""), "confidence": number(a.infons.get("confidence")),
        "value_confidence": number(a.infons.get("value_confidence")),
    } for a in found]
    links = [{"members": {node.role: index[node.refid] for node in relation.nodes}, "score": number(relation.infons.get("score"))}
             for relation in document.relations if relation.infons.get("type") == STATEMENT]
    return {"id": document.id, "entities": entities, "links": links}

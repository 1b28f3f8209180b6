"""JSONL records, both ways: input `{"id": ..., "text": ...}` per line (`read_jsonl`), and the
record of an annotated doc (`doc_record`), what the JSONL output writes per line (`write_jsonl`)
and the Parquet output per row, so both carry the same fields."""
import json
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple, Union

from spacy.tokens import Doc, Span

from fgen.doc_layout import entity_spans, get_link_scores, get_links
from fgen.formats.records import Item, Problem, Record
from fgen.formats.text import file_lines
from fgen.util.atomic import atomic_text_file


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_record(path: Path, number: int, raw: bytes) -> Optional[Item]:
    position = f"{path}:{number}"
    try:
        obj = json.loads(raw.decode("utf8"))
    except UnicodeDecodeError as err:
        return Problem(position, f"not UTF-8 (byte {err.start})")
    except json.JSONDecodeError as err:
        return Problem(position, f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(obj, dict):
        return Problem(position, f"not a JSON object but {type(obj).__name__}")
    text, doc_id = obj.get("text"), obj.get("id")
    if not isinstance(text, str):
        return Problem(position, 'no string "text"' if text is None else f'"text" is a {type(text).__name__}, not a string')
    if not text.strip():
        return Problem(position, "empty text")
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate:  # JSON can escape one; no UTF-8 output (journal, files) can hold it
        return Problem(position, f'"text" holds a lone surrogate (\\u{ord(surrogate.group()):04x} at {surrogate.start()}), not Unicode text')
    if doc_id is None:
        doc_id = f"{path.stem}:{number}"  # as for .txt lines
    elif isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        return Problem(position, f'"id" must be a string or an integer, not {json.dumps(doc_id)[:40]}')
    elif not str(doc_id).strip():
        return Problem(position, 'empty "id"')
    elif isinstance(doc_id, str) and _LONE_SURROGATE.search(doc_id):
        return Problem(position, '"id" holds a lone surrogate, not Unicode text')
    return Record(str(doc_id), text, position)  # ids are strings everywhere (module docstring)


def read_jsonl(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a JSONL file, one `{"id": ..., "text": ...}` per line (blank lines skipped).
    A record without "id" gets `<stem>:<line>`; an integer id becomes its decimal string."""
    path = Path(path)
    for number, raw in file_lines(path):
        if raw.strip():
            item = _json_record(path, number, raw)
            if item is not None:
                yield item



def _float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _entity(span: Span) -> Dict[str, Any]:
    return {
        "start": span.start_char,
        "end": span.end_char,
        "text": span.text,
        "label": span.label_,
        "value": span.kb_id_,
        "confidence": _float(span._.confidence),
        "value_confidence": _float(span._.value_confidence),
    }


def doc_record(doc: Doc, doc_id: str) -> Dict[str, Any]:
    """The record of an annotated doc: `id`, `text`, `entities` (`entity_spans` order, char offsets,
    label, value, confidences) and `links`, the statements, each as {"members": {category: entity
    index}, "score": float}. A statement member that is not among the entities (not produced by
    fgen's components) is appended to the entities.

    doc (Doc): the annotated doc.
    doc_id (str): its id, e.g. the PMID.
    RETURNS (Dict[str, Any]): the record, JSON-serialisable.
    """
    spans = entity_spans(doc)
    index = {(s.start_char, s.end_char, s.label_): i for i, s in enumerate(spans)}
    links = []
    for link, score in zip(get_links(doc), get_link_scores(doc)):
        members = {}
        for role, span in link.items():
            key = (span.start_char, span.end_char, span.label_)
            if key not in index:
                index[key] = len(spans)
                spans.append(span)
            members[role] = index[key]
        links.append({"members": members, "score": _float(score)})
    return {"id": doc_id, "text": doc.text, "entities": [_entity(s) for s in spans], "links": links}


def write_jsonl(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write one JSON record per doc (see `doc_record`), atomically; returns the number written."""
    count = 0
    with atomic_text_file(path) as handle:
        for doc_id, doc in docs:
            handle.write(json.dumps(doc_record(doc, doc_id), ensure_ascii=False) + "\n")
            count += 1
    return count

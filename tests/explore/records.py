"""Records shaped like `fgen.formats.jsonl.doc_record`'s, written by the explorer's tests: an
abstract and its statements given as the members' words, offsets found in the text."""
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

VALUES = {"PERTURBING_ACTION": "rnai/knockdown", "CONTEXT": "cells", "EFFECT": "negative", "PHENOTYPE": "autophagy"}


def make_record(
    record_id: str,
    text: str,
    statements: Sequence[Dict[str, Any]],
    scores: Optional[Sequence[float]] = None,
) -> Dict[str, Any]:
    """A record of `text` with one statement per dict of `statements`: category → the member's
    words (their first occurrence in `text`), or → (words, value) for a value other than `VALUES`'."""
    entities: List[Dict[str, Any]] = []
    index: Dict[Tuple[int, int, str], int] = {}
    links = []
    for i, statement in enumerate(statements):
        members = {}
        for role, member in statement.items():
            words, value = member if isinstance(member, tuple) else (member, VALUES[role])
            start = text.index(words)
            key = (start, start + len(words), role)
            if key not in index:
                index[key] = len(entities)
                entities.append({"start": key[0], "end": key[1], "text": words, "label": role, "value": value,
                                 "confidence": 0.9, "value_confidence": 0.8})
            members[role] = index[key]
        links.append({"members": members, "score": scores[i] if scores else 0.9 - 0.1 * i})
    return {"id": record_id, "text": text, "entities": entities, "links": links}


def write_jsonl(path: Path, records: Iterable[Dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


AUTOPHAGY = make_record(
    "31462126",
    "Knockdown of ATG12 in HeLa cells inhibits autophagy. Overexpression of TFEB in HeLa cells promotes autophagy.",
    [
        {"PERTURBING_ACTION": "Knockdown of ATG12", "CONTEXT": "HeLa cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"},
        {"PERTURBING_ACTION": ("Overexpression of TFEB", "gene gain-of-function"), "CONTEXT": "HeLa cells",
         "EFFECT": ("promotes", "positive"), "PHENOTYPE": "autophagy"},
    ],
)
AUTOPHAGY_2 = make_record(
    "29000001",
    "In HeLa  cells, knock-down of ATG12 inhibits autophagy; silencing of ATG5 inhibits autophagy too.",
    [
        {"PERTURBING_ACTION": "knock-down of ATG12", "CONTEXT": "HeLa  cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"},
        {"PERTURBING_ACTION": "silencing of ATG5", "CONTEXT": "HeLa  cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"},
    ],
    scores=[0.95, 0.6],
)
TUMOUR = make_record(
    "abc-7",
    "Loss of ATG1 in mice reduces tumorigenesis.",
    [{"PERTURBING_ACTION": "Loss of ATG1", "CONTEXT": ("mice", "organism"), "EFFECT": "reduces", "PHENOTYPE": ("tumorigenesis", "tumourigenesis")}],
)
HTML_RECORD = make_record(
    "<b>1</b>",
    "<script>alert(1)</script> Knockdown of ATG12 in HeLa cells inhibits autophagy. Nothing else & more.",
    [{"PERTURBING_ACTION": "Knockdown of ATG12", "CONTEXT": "HeLa cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"}],
)


def write_parquet(path: Path, records: Iterable[Dict[str, Any]], roles: Sequence[str] = tuple(VALUES)) -> Path:
    """`records` as the Ray job writes them (`fgen.formats.parquet`)."""
    from fgen.formats.parquet import parquet_bytes, parquet_schema

    rows = [{**r, "source_file": "in.jsonl", "model": "test", "model_version": "0"} for r in records]
    path.write_bytes(parquet_bytes(rows, parquet_schema(roles)))
    return path

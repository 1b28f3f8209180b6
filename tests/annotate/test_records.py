"""fgen.formats.jsonl.doc_record, the one record of an annotated doc, and fgen.formats.parquet,
which stores it: a Parquet row read back is the JSONL record."""
import json

import pytest
import spacy
from spacy.tokens import Span

import fgen  # noqa: F401  registers the Doc and Span extensions
from fgen.formats.parquet import parquet_bytes, parquet_schema, read_parquet_rows
from fgen.formats.jsonl import doc_record
from fgen.doc_layout import SPAN_KEY, set_links

TEXT = "Knockdown of ATG12 inhibits tumorigenesis in UM cells."


@pytest.fixture
def doc():
    doc = spacy.blank("en")(TEXT)
    action = Span(doc, 0, 3, label="PERTURBING_ACTION", kb_id="rnai/knockdown")
    effect = Span(doc, 3, 4, label="EFFECT", kb_id="negative")
    phenotype = Span(doc, 4, 5, label="PHENOTYPE", kb_id="tumourigenesis")
    context = Span(doc, 6, 8, label="CONTEXT")  # a statement member that is not among the entities
    action._.confidence, action._.value_confidence = 0.9, 0.5
    doc.spans[SPAN_KEY] = [action, effect, phenotype]
    set_links(doc, [{"PERTURBING_ACTION": action, "CONTEXT": context, "EFFECT": effect, "PHENOTYPE": phenotype}], [0.25])
    return doc


def test_doc_record_entities_and_statements(doc):
    record = doc_record(doc, "123")
    assert (record["id"], record["text"]) == ("123", TEXT)
    assert [(e["text"], e["label"], e["value"]) for e in record["entities"]] == [
        ("Knockdown of ATG12", "PERTURBING_ACTION", "rnai/knockdown"), ("inhibits", "EFFECT", "negative"),
        ("tumorigenesis", "PHENOTYPE", "tumourigenesis"), ("UM cells", "CONTEXT", ""),  # appended for the statement
    ]
    assert record["entities"][0] == {"start": 0, "end": 18, "text": "Knockdown of ATG12", "label": "PERTURBING_ACTION",
                                     "value": "rnai/knockdown", "confidence": 0.9, "value_confidence": 0.5}
    assert record["entities"][1]["confidence"] is None
    assert record["links"] == [{"members": {"PERTURBING_ACTION": 0, "CONTEXT": 3, "EFFECT": 1, "PHENOTYPE": 2}, "score": 0.25}]
    assert json.loads(json.dumps(record)) == record


def test_parquet_row_reads_back_as_the_record(doc, tmp_path):
    record = doc_record(doc, "123")
    row = {**record, "source_file": "pubmed25n0001.xml.gz", "model": "en_fgen_pipeline", "model_version": "0.1.0"}
    path = tmp_path / "out.parquet"
    path.write_bytes(parquet_bytes([row, {**row, "id": "124", "links": []}], parquet_schema(["PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"])))
    first, second = read_parquet_rows(path)
    assert first == row and second["links"] == [] and second["entities"] == row["entities"]
    with pytest.raises(ValueError, match="id 123: statement role 'PHENOTYPE' is not one of the output's roles"):
        parquet_bytes([row], parquet_schema(["PERTURBING_ACTION", "CONTEXT", "EFFECT"]))

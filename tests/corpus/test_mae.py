"""MAE reading, validation of bad input, and writing."""
from pathlib import Path

import pytest

from fgen.formats.mae import MaeError, mae_to_string, parse_spans, read_mae
from fgen.corpus.schemes import load_scheme

from ..conftest import TEXT, mae_xml, offsets, v2_tags

LINKED = "raw_data/V2 Marked and Linked Entities/1_PMID111111.txt_CC2.xml"


def test_read_v2(tiny_corpus, v2_scheme):
    record = read_mae(tiny_corpus / LINKED, v2_scheme)
    assert record.text == TEXT
    assert record.root_tag == "Genomics_ConceptTask"
    assert len(record.entities) == 10 and len(record.links) == 2
    p1 = next(e for e in record.entities if e.id == "P1")
    assert record.text[slice(*p1.fragments[0])] == "knockdown of\nZNNT1"
    assert p1.values == {"perturbing_action": "rnai/knockdown"}
    assert record.links[0].members == {"PERTURBING_ACTION": "P0", "CONTEXT": "C0", "EFFECT": "E0", "PHENOTYPE": "PH0"}


def test_read_v1_discontinuous_two_values(tiny_corpus, v1_scheme):
    record = read_mae(tiny_corpus / "raw_data/Marked and Linked Entities/1_PMID111111.txt_CC.xml", v1_scheme)
    e0 = next(e for e in record.entities if e.id == "E0")
    assert len(e0.fragments) == 2
    assert e0.values == {"phenotype": "autophagy", "activity": "decreases"}
    assert record.links[0].members == {"PERTURBING_ACTION": "P1", "CONTEXT": "C0", "EFFECT": "E0"}


@pytest.mark.parametrize("scheme_name,path", [("v2", LINKED), ("v1", "raw_data/Marked and Linked Entities/1_PMID111111.txt_CC.xml")])
def test_write_read_round_trip(tiny_corpus, scheme_name, path):
    scheme = load_scheme(tiny_corpus, scheme_name)
    record = read_mae(tiny_corpus / path, scheme)
    again = read_mae(tiny_corpus / path, scheme, data=mae_to_string(record, scheme).encode("utf8"))
    assert again == record


def test_write_escapes_cdata_end_and_quotes(v2_scheme):
    text = 'A "quoted" ]]> & <tag> text'
    from fgen.formats.mae import MaeDocument, MaeEntity

    record = MaeDocument(text, [MaeEntity("C0", "CONTEXT", [(0, 10)], {"context": "cells"})])
    again = read_mae("mem.xml", v2_scheme, data=mae_to_string(record, v2_scheme).encode("utf8"))
    assert again.text == text and again.entities == record.entities


def test_parse_spans():
    assert parse_spans("1~5") == [(1, 5)]
    assert parse_spans("1~5,8~9") == [(1, 5), (8, 9)]
    with pytest.raises(ValueError):
        parse_spans("1-5")


GOOD_ENTITY = f'<CONTEXT id="C0" spans="{offsets(TEXT, "UM cells")}" text="UM cells" context="cells" />'
BAD_INPUTS = {
    "malformed": (mae_xml(TEXT, GOOD_ENTITY).replace("</TAGS>", "</TAG>"), "malformed XML"),
    "no_text": ('<?xml version="1.0" ?><Genomics_ConceptTask><TAGS/></Genomics_ConceptTask>', "no <TEXT> element"),
    "no_tags": (f"<Genomics_ConceptTask><TEXT><![CDATA[{TEXT}]]></TEXT></Genomics_ConceptTask>", "no <TAGS> element"),
    "out_of_range": (mae_xml("short", '<CONTEXT id="C0" spans="2~50" text="x" context="cells" />'), "outside the text"),
    "unparsable_span": (mae_xml(TEXT, '<CONTEXT id="C0" spans="2-5" text="x" context="cells" />'), "cannot parse spans"),
    "missing_span": (mae_xml(TEXT, '<CONTEXT id="C0" text="x" context="cells" />'), "missing spans"),
    "empty_span": (mae_xml(TEXT, '<CONTEXT id="C0" spans="5~5" text="" context="cells" />'), "empty or outside"),
    "unknown_category": (mae_xml(TEXT, '<GENE id="G0" spans="0~5" text="Overe" />'), "unknown tag <GENE>"),
    "unknown_value": (mae_xml(TEXT, GOOD_ENTITY.replace('context="cells"', 'context="spheroids"')), "'spheroids' is not in the v2 value list"),
    "missing_value": (mae_xml(TEXT, GOOD_ENTITY.replace(' context="cells"', "")), "missing value attribute 'context'"),
    "duplicate_id": (mae_xml(TEXT, GOOD_ENTITY + "\n" + GOOD_ENTITY), "duplicate id 'C0'"),
    "text_mismatch": (mae_xml(TEXT, GOOD_ENTITY.replace('text="UM cells"', 'text="UM cell"')), "does not match the text"),
    "link_missing_id": (mae_xml(TEXT, GOOD_ENTITY + '\n<ENTITY_LINKING id="EN0" contextID="C0" effectID="E9" />'), "effectID='E9' names no entity"),
    "link_empty": (mae_xml(TEXT, GOOD_ENTITY + '\n<ENTITY_LINKING id="EN0" contextID="" />'), "names no entity"),
    "empty_file": ("", "empty file"),
    "billion_laughs": (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        "<Genomics_ConceptTask><TEXT>&lol2;</TEXT><TAGS/></Genomics_ConceptTask>",
        "refused unsafe XML",
    ),
    "external_entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>\n'
        "<Genomics_ConceptTask><TEXT>&ext;</TEXT><TAGS/></Genomics_ConceptTask>",
        "refused unsafe XML",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_names_file_and_reason(tmp_path, v2_scheme, name):
    content, reason = BAD_INPUTS[name]
    path = tmp_path / f"{name}.xml"
    path.write_text(content, encoding="utf8")
    with pytest.raises(MaeError) as err:
        read_mae(path, v2_scheme)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert reason in message
    assert "\n" not in message


def test_non_utf8_bytes(tmp_path, v2_scheme):
    path = tmp_path / "latin1.xml"
    path.write_bytes(mae_xml("caf\u00e9 cells", "").encode("latin-1"))
    with pytest.raises(MaeError, match=r"latin1.xml: not valid UTF-8: byte 0xe9"):
        read_mae(path, v2_scheme)


def test_link_with_wrong_category_is_kept_with_warning(tmp_path, v2_scheme):
    tags = v2_tags().replace('contextID="C0" contextText="UM cells" effectID="E0"', 'contextID="P1" contextText="UM cells" effectID="E0"')
    path = tmp_path / "slip.xml"
    path.write_text(mae_xml(TEXT, tags), encoding="utf8")
    record = read_mae(path, v2_scheme)
    assert record.links[0].members["CONTEXT"] == "P1"
    assert record.warnings == ["ENTITY_LINKING EN0: contextID='P1' is a PERTURBING_ACTION, not a CONTEXT"]


def test_missing_definition_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="tag_categories_v2.json"):
        load_scheme(tmp_path, "v2")
    with pytest.raises(ValueError, match="Unknown scheme"):
        load_scheme(Path(tmp_path), "v3")

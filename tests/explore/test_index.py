"""The explorer's index: build from JSONL and Parquet, replace by id, bad input, Parquet views."""
import json

import duckdb
import pytest

from fgen.explore.index import ExploreInputError, build_index, open_index, parquet_source
from fgen.explore.query import Filters, query_statements
from tests.explore.conftest import RECORDS
from tests.explore.records import AUTOPHAGY, TUMOUR, make_record, write_jsonl, write_parquet


def _all(con):
    return query_statements(con, Filters(limit=100))


def _counts(path):
    con = open_index(path)
    try:
        return con.execute("SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM statements)").fetchone()
    finally:
        con.close()


def test_build_counts_records_and_statements(index):
    n_statements = sum(len(r["links"]) for r in RECORDS)
    assert _counts(index) == (len(RECORDS), n_statements)


def test_build_twice_changes_nothing(index, jsonl):
    con = open_index(index)
    before = _all(con)
    con.close()
    build_index(index, [jsonl])
    con = open_index(index)
    assert _all(con) == before
    con.close()
    assert _counts(index) == (len(RECORDS), sum(len(r["links"]) for r in RECORDS))


def test_build_replaces_a_record_by_id(index, tmp_path):
    changed = make_record(TUMOUR["id"], "Loss of ATG1 in mice increases tumorigenesis.",
                          [{"PERTURBING_ACTION": "Loss of ATG1", "EFFECT": ("increases", "positive")}])
    build_index(index, [write_jsonl(tmp_path / "new.jsonl", [changed])])
    con = open_index(index)
    groups = query_statements(con, Filters(id=TUMOUR["id"]))
    assert [g["members"]["EFFECT"]["text"] for g in groups] == ["increase"]
    assert "CONTEXT" not in groups[0]["members"]
    assert con.execute("SELECT text FROM records WHERE id = ?", [TUMOUR["id"]]).fetchone()[0] == changed["text"]


def test_build_extends_and_ids_are_strings(index, tmp_path):
    record = dict(make_record("0", "Knockdown of ATG12 in HeLa cells inhibits autophagy.", [
        {"PERTURBING_ACTION": "Knockdown of ATG12", "CONTEXT": "HeLa cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"}]), id=7)
    build_index(index, [write_jsonl(tmp_path / "more.jsonl", [record])])
    con = open_index(index)
    top = query_statements(con, Filters(perturbation="ATG12"))[0]
    assert top["abstracts"] == 4
    assert "7" in [e["id"] for e in top["evidence"]]


def test_last_record_of_an_id_wins_within_a_file(tmp_path):
    first = make_record("1", "Loss of ATG1 reduces tumorigenesis.", [{"PERTURBING_ACTION": "Loss of ATG1", "EFFECT": "reduces"}])
    second = make_record("1", "Loss of ATG5 reduces tumorigenesis.", [{"PERTURBING_ACTION": "Loss of ATG5", "EFFECT": "reduces"}])
    path = tmp_path / "i.duckdb"
    build_index(path, [write_jsonl(tmp_path / "a.jsonl", [first, second])])
    con = open_index(path)
    assert [g["members"]["PERTURBING_ACTION"]["target"] for g in _all(con)] == ["ATG5"]


@pytest.mark.parametrize("name,content,reason", [
    ("notjson.jsonl", "this is not JSON\n", ""),
    ("other.jsonl", json.dumps({"pmid": 1, "abstract": "x"}) + "\n", "not fgen output"),
    ("nolinks.jsonl", json.dumps({"id": "1", "text": "x", "entities": []}) + "\n", "without 'links'"),
    ("range.jsonl", json.dumps({"id": "1", "text": "x", "entities": [], "links": [{"members": {"EFFECT": 3}, "score": 1.0}]}) + "\n",
     "EFFECT member is not one of its entities"),
    ("notes.txt", "hello\n", "not a .jsonl or .parquet file"),
])
def test_bad_input_is_one_line_and_leaves_the_index(index, tmp_path, name, content, reason):
    bad = tmp_path / name
    bad.write_text(content, encoding="utf8")
    before = _counts(index)
    with pytest.raises(ExploreInputError) as err:
        build_index(index, [write_jsonl(tmp_path / "good.jsonl", [make_record("new", "a b", [])]), bad])
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{bad}: ") and reason in message
    assert _counts(index) == before


def test_parquet_with_the_wrong_schema(tmp_path):
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 1 AS pmid, 'x' AS text) TO '{tmp_path / 'x.parquet'}'")
    with pytest.raises(ExploreInputError, match=r"x\.parquet: not fgen output: no 'id' column"):
        build_index(tmp_path / "i.duckdb", [tmp_path / "x.parquet"])


def test_parquet_folder_builds_the_same_index(index, parquet_dir, tmp_path):
    from_parquet = tmp_path / "p.duckdb"
    build_index(from_parquet, [parquet_dir])
    a, b = open_index(index), open_index(from_parquet)
    assert _all(a) == _all(b)


def test_parquet_source_answers_without_an_index(index, parquet_dir):
    built, views = open_index(index), parquet_source(parquet_dir)
    for filters in [Filters(), Filters(perturbation="ATG12"), Filters(text="tumorigenesis"), Filters(min_abstracts=2)]:
        assert query_statements(views, filters) == query_statements(built, filters)


def test_parquet_of_other_roles(tmp_path):
    # A run's members struct holds only its roles; the missing ones are no member.
    record = make_record("1", "Loss of ATG1 reduces tumorigenesis.", [{"PERTURBING_ACTION": "Loss of ATG1", "EFFECT": "reduces"}])
    path = write_parquet(tmp_path / "two.parquet", [record], roles=("PERTURBING_ACTION", "EFFECT"))
    build_index(tmp_path / "i.duckdb", [path])
    groups = _all(open_index(tmp_path / "i.duckdb"))
    assert set(groups[0]["members"]) == {"PERTURBING_ACTION", "EFFECT"}
    assert _all(parquet_source(path)) == groups


def test_open_index_refuses_other_files(tmp_path):
    with pytest.raises(ExploreInputError, match="no such index"):
        open_index(tmp_path / "missing.duckdb")
    duckdb.connect(str(tmp_path / "other.duckdb")).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(ExploreInputError, match="not an fgen-explore index"):
        open_index(tmp_path / "other.duckdb")


def test_index_opens_read_only(index):
    con = open_index(index)
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM statements")
    assert AUTOPHAGY["id"] in [r[0] for r in con.execute("SELECT id FROM records").fetchall()]

"""The precomputed groups table: category filters read it instead of every statement, and it
stays equal to a fresh aggregation when inputs extend or replace records."""
import re

import pytest

from fgen.explore.index import build_index, group_order, open_index, parquet_source
from fgen.explore.query import Filters, query_sql, query_statements
from tests.explore.conftest import RECORDS
from tests.explore.records import TUMOUR, make_record, write_jsonl, write_parquet

FILTERS = [
    Filters(), Filters(perturbation="rnai/knockdown"), Filters(perturbation="ATG1"), Filters(effect="negative"),
    Filters(text="hela cells", effect="negative"), Filters(min_abstracts=2), Filters(id="29000001"),
    Filters(limit=1), Filters(evidence=2), Filters(phenotype="autophagy", evidence=1),
]


def _scanned_tables(con, filters):
    sql, params = query_sql(filters)
    plan = "\n".join(row[1] for row in con.execute("EXPLAIN " + sql, params).fetchall())
    return {name.split(".")[-1].strip('"') for name in re.findall(r"Table: (\S+)", plan)}


@pytest.mark.parametrize("filters", [Filters(effect="negative"), Filters(text="autophagy"), Filters(perturbation="ATG12", min_abstracts=2)])
def test_category_filters_read_groups_not_statements(index, filters):
    con = open_index(index)
    assert _scanned_tables(con, filters) == {"statement_groups"}


def test_groups_answer_as_the_statements_do(index, parquet_dir):
    # The Parquet views have no groups table: they aggregate every statement on each query.
    built, views = open_index(index), parquet_source(parquet_dir)
    for filters in FILTERS:
        assert query_statements(built, filters) == query_statements(views, filters), filters


def test_min_score_counts_only_the_statements_scored_that_high(tmp_path):
    records = [make_record(str(i), "Knockdown of ATG12 inhibits autophagy.", [{"PERTURBING_ACTION": "Knockdown of ATG12",
               "EFFECT": "inhibits"}], scores=[score]) for i, score in enumerate([0.9, 0.5, 0.95])]
    path = tmp_path / "i.duckdb"
    build_index(path, [write_jsonl(tmp_path / "r.jsonl", records)])
    groups = query_statements(open_index(path), Filters(min_score=0.8))
    assert groups[0]["abstracts"] == 2 and [e["id"] for e in groups[0]["evidence"]] == ["2", "0"]


def test_incremental_groups_equal_a_fresh_build(index, tmp_path):
    changed = make_record(TUMOUR["id"], "Loss of ATG1 in mice increases tumorigenesis.",
                          [{"PERTURBING_ACTION": "Loss of ATG1", "EFFECT": ("increases", "positive")}])
    extra = make_record("7", "Knockdown of ATG12 in HeLa cells inhibits autophagy.", [
        {"PERTURBING_ACTION": "Knockdown of ATG12", "CONTEXT": "HeLa cells", "EFFECT": "inhibits", "PHENOTYPE": "autophagy"}])
    more = write_parquet(tmp_path / "more.parquet", [changed, extra])
    build_index(index, [more])
    fresh = tmp_path / "fresh.duckdb"
    build_index(fresh, [write_jsonl(tmp_path / "all.jsonl", [r for r in RECORDS if r["id"] != TUMOUR["id"]] + [changed, extra])])
    a, b = open_index(index), open_index(fresh)
    rows = "SELECT * EXCLUDE (evidence), evidence FROM statement_groups ORDER BY gkey"
    assert a.execute(rows).fetchall() == b.execute(rows).fetchall()
    assert query_statements(a, Filters(limit=100)) == query_statements(b, Filters(limit=100))
    assert query_statements(a, Filters(perturbation="ATG12"))[0]["abstracts"] == 4


def test_category_values_from_groups_as_from_statements(index, parquet_dir):
    from fgen.explore.query import category_values

    values = category_values(open_index(index))
    assert values == category_values(parquet_source(parquet_dir)) and values["EFFECT"][0] == "negative"


def test_groups_are_stored_ranked(index, tmp_path):
    # Queries order by `rank` alone: it must follow the groups' order, and the rows lie in it.
    build_index(index, [write_jsonl(tmp_path / "more.jsonl", [make_record("8", "Loss of ATG1 reduces tumorigenesis.", [
        {"PERTURBING_ACTION": "Loss of ATG1", "EFFECT": "reduces", "PHENOTYPE": "tumorigenesis"}])])])
    con = open_index(index)
    stored = [row[0] for row in con.execute("SELECT rank FROM statement_groups").fetchall()]
    assert stored == list(range(1, len(stored) + 1))
    expected = con.execute(f"SELECT rank FROM statement_groups ORDER BY {group_order()}").fetchall()
    assert [row[0] for row in expected] == stored


def test_an_index_without_groups_answers_and_gets_them_on_its_next_build(index, jsonl):
    import duckdb

    con = open_index(index)
    expected = query_statements(con, Filters(limit=100))
    con.close()
    old = duckdb.connect(str(index))
    old.execute("DROP TABLE statement_groups")
    old.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    old.close()
    assert query_statements(open_index(index), Filters(limit=100)) == expected
    build_index(index, [jsonl])
    con = open_index(index)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchall() == [("2",)]
    assert con.execute("SELECT count(*) FROM statement_groups").fetchone()[0] == len(expected)
    assert query_statements(con, Filters(limit=100)) == expected

"""Grouped statements: filters, the JSON shape, injection attempts, the command line."""
import json

import pytest
from typer.testing import CliRunner

from fgen.explore.cli import app
from fgen.explore.index import open_index
from fgen.explore.query import Filters, format_groups, query_sql, query_statements
from tests.explore.conftest import RECORDS

BY_ID = {r["id"]: r for r in RECORDS}
INJECTIONS = ["' OR 1=1 --", "'); DROP TABLE statements; --", "%", "_", "\\", 'x" OR "x"="x', "autophagy' UNION SELECT 1 --"]
FILTERS = ["perturbation", "context", "effect", "phenotype", "text", "id"]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    from fgen.explore.index import build_index
    from tests.explore.records import write_jsonl

    folder = tmp_path_factory.mktemp("query")
    build_index(folder / "i.duckdb", [write_jsonl(folder / "r.jsonl", RECORDS)])
    con = open_index(folder / "i.duckdb")
    yield con
    con.close()


def _perturbations(groups):
    return [g["members"]["PERTURBING_ACTION"]["text"] for g in groups]


def test_groups_across_abstracts_most_first(con):
    groups = query_statements(con, Filters())
    assert [g["abstracts"] for g in groups] == sorted((g["abstracts"] for g in groups), reverse=True)
    top = groups[0]
    assert top["members"]["PERTURBING_ACTION"] == {"text": "knockdown of atg12", "value": "rnai/knockdown", "target": "ATG12"}
    assert top["abstracts"] == 3 and sorted(e["id"] for e in top["evidence"]) == ["29000001", "31462126", "<b>1</b>"]


def test_spans_cut_the_mentions_out_of_the_abstract(con):
    for group in query_statements(con, Filters()):
        for item in group["evidence"]:
            record = BY_ID[item["id"]]
            cut = {role: record["text"][s:e] for role, (s, e) in item["spans"].items()}
            entities = {(e["label"], e["text"]) for e in record["entities"]}
            assert set(cut) == set(group["members"]) and {(r, t) for r, t in cut.items()} <= entities


@pytest.mark.parametrize("filters,expected", [
    (Filters(perturbation="rnai/knockdown"), ["knockdown of atg12", "loss of atg1", "silencing of atg5"]),
    (Filters(perturbation="ATG1"), ["knockdown of atg12", "loss of atg1"]),
    (Filters(perturbation="knock-down"), ["knockdown of atg12"]),
    (Filters(effect="POSITIVE"), ["overexpression of tfeb"]),
    (Filters(context="organism"), ["loss of atg1"]),
    (Filters(phenotype="tumourigenesis"), ["loss of atg1"]),
    (Filters(phenotype="tumour"), []),
    (Filters(text="TFEB"), ["overexpression of tfeb"]),
    (Filters(text="hela cells", effect="negative"), ["knockdown of atg12", "silencing of atg5"]),
    (Filters(min_abstracts=2), ["knockdown of atg12"]),
    (Filters(min_score=0.85), ["knockdown of atg12", "loss of atg1"]),
    (Filters(id="29000001"), ["knockdown of atg12", "silencing of atg5"]),
    (Filters(limit=1), ["knockdown of atg12"]),
])
def test_filters(con, filters, expected):
    assert sorted(_perturbations(query_statements(con, filters))) == sorted(expected)


def test_evidence_is_capped_best_first(con):
    evidence = query_statements(con, Filters(evidence=2))[0]["evidence"]
    assert [e["score"] for e in evidence] == [0.95, 0.9]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_injection_attempts_match_nothing_and_change_nothing(con, attempt):
    for name in FILTERS:
        # The SQL text is the same whatever the value: the value is only ever a parameter.
        sql, params = query_sql(Filters(**{name: attempt}))
        assert sql == query_sql(Filters(**{name: "x"}))[0] and (attempt in params or attempt.lower() in params)
        assert query_statements(con, Filters(**{name: attempt})) == [], name
    assert con.execute("SELECT count(*) FROM statements").fetchone()[0] == sum(len(r["links"]) for r in RECORDS)


def test_formats(con):
    groups = query_statements(con, Filters())
    assert json.loads(format_groups(groups, "json")) == groups
    lines = format_groups(groups, "csv").splitlines()
    assert lines[0].startswith("PERTURBING_ACTION,PERTURBING_ACTION_value,CONTEXT") and len(lines) == len(groups) + 1
    assert "knockdown of atg12" in format_groups(groups, "table")
    with pytest.raises(ValueError):
        format_groups(groups, "xml")


def test_cli_build_and_query(tmp_path, jsonl):
    runner = CliRunner()
    index = tmp_path / "cli.duckdb"
    result = runner.invoke(app, ["build", str(index), str(jsonl)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["query", str(index), "--perturbation", "ATG12", "--min-abstracts", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    con = open_index(index)
    assert json.loads(result.output) == query_statements(con, Filters(perturbation="ATG12", min_abstracts=2))


def test_cli_query_over_parquet_folder(parquet_dir, con):
    # The same answer as the built index, read from the Parquet files in place.
    result = CliRunner().invoke(app, ["query", str(parquet_dir), "--text", "autophagy", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == query_statements(con, Filters(text="autophagy"))


def test_cli_bad_input_one_line_per_file(tmp_path):
    bad_a, bad_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    bad_a.write_text("nonsense\n")
    bad_b.write_text('{"pmid": 1}\n')
    result = CliRunner().invoke(app, ["build", str(tmp_path / "i.duckdb"), str(bad_a), str(bad_b)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2 and str(bad_a) in lines[0] and str(bad_b) in lines[1]

"""The numbers a reader sees live in one place, docs/results.json: docs/results.md and README.md
show its tables exactly as fgen.runs.model_card renders them (and the wheel's card does too)."""
import pytest

from fgen.runs.model_card import cv_table, load_results, speed_table

from .conftest import REPO

RESULTS = load_results(REPO / "docs" / "results.json")


@pytest.mark.parametrize("page", ["docs/results.md", "README.md"])
def test_pages_show_the_results_as_results_json_has_them(page: str):
    text = (REPO / page).read_text(encoding="utf8")
    assert cv_table(RESULTS["cross_validation"]) in text
    assert speed_table(RESULTS["speed"]) in text


def test_every_headline_row_has_a_score_and_where_it_comes_from():
    for section in ("cross_validation", "speed", "workflow"):
        assert RESULTS[section]["date"] and RESULTS[section]["where"] and RESULTS[section]["machine"]
    assert all(isinstance(row["mean"], float) for row in RESULTS["cross_validation"]["rows"])

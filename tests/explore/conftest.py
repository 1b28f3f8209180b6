"""Fixtures of the explorer tests: annotate-shaped records as JSONL and as the Ray job's Parquet,
and an index built from them."""
from pathlib import Path

import pytest

from tests.explore.records import AUTOPHAGY, AUTOPHAGY_2, HTML_RECORD, TUMOUR, write_jsonl, write_parquet

RECORDS = [AUTOPHAGY, AUTOPHAGY_2, TUMOUR, HTML_RECORD]


@pytest.fixture
def jsonl(tmp_path) -> Path:
    return write_jsonl(tmp_path / "annotated.jsonl", RECORDS)


@pytest.fixture
def parquet_dir(tmp_path) -> Path:
    folder = tmp_path / "ray-output"
    folder.mkdir()
    write_parquet(folder / "part-0.parquet", RECORDS[:2])
    write_parquet(folder / "part-1.parquet", RECORDS[2:])
    return folder


@pytest.fixture
def index(tmp_path, jsonl) -> Path:
    from fgen.explore.index import build_index

    path = tmp_path / "statements.duckdb"
    build_index(path, [jsonl])
    return path

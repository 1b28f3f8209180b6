"""Fixtures of the annotate tests: the test pipeline of test_annotate.py (an entity_ruler plus
`annotate_test_fgen`), saved once per test module and loaded."""
from pathlib import Path

import pytest
import spacy


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from tests.annotate.test_annotate import build_nlp  # the test component lives with its tests

    path = tmp_path_factory.mktemp("model") / "pipeline"
    build_nlp().to_disk(path)
    return path


@pytest.fixture(scope="module")
def nlp(model_dir):
    return spacy.load(model_dir)

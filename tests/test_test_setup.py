"""The suite's own machinery: `--dist loadgroup` must really keep an `xdist_group` on one worker.

The Ray tests share one local cluster and the smoke-training tests one set of session runs
(tests/conftest.py) through xdist groups. pytest 9.2 broke the grouping silently
(pytest-dev/pytest-xdist#1386: the group suffix of the node id no longer takes effect): every
test still passed, but each worker started its own cluster and trained its own runs."""
import subprocess
import sys
from pathlib import Path

GROUPED_TESTS = '''
import pytest

@pytest.mark.xdist_group("shared")
def test_one():
    pass

@pytest.mark.xdist_group("shared")
def test_two():
    pass

def test_three():
    pass

def test_four():
    pass
'''


def test_loadgroup_runs_a_group_on_one_worker(tmp_path: Path):
    (tmp_path / "test_grouped.py").write_text(GROUPED_TESTS, encoding="utf8")
    cmd = [sys.executable, "-m", "pytest", "-v", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
           "-o", "addopts=", "test_grouped.py"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    workers = {}
    for line in result.stdout.splitlines():
        if "PASSED" in line and line.startswith("[gw"):
            workers[line.split("::")[-1].strip()] = line.split("]")[0].lstrip("[")
    assert set(workers) >= {"test_one@shared", "test_two@shared"}, result.stdout[-2000:]
    assert workers["test_one@shared"] == workers["test_two@shared"]

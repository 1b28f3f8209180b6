"""Tests for fgen.util.atomic: all-or-nothing outputs with the modes open() and mkdir would give."""
import os
import stat
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fgen.util import atomic
from fgen.util.atomic import atomic_directory, atomic_text_file, write_bytes_atomic

UMASK = 0o027  # distinct group and other bits, so a wrong mask shows in the modes


@pytest.fixture
def umask() -> Iterator[int]:
    """Run the test under UMASK, with os.umask failing if anything calls it meanwhile."""
    previous = os.umask(UMASK)
    try:
        with pytest.MonkeyPatch.context() as mp:

            def no_umask(mask: int) -> int:
                raise AssertionError(f"os.umask({mask:#o}) called: other threads would create files with it")

            mp.setattr(os, "umask", no_umask)
            yield UMASK
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_all(root: Path) -> None:
    """One output of each kind under `root`: a file, a text file, a folder with a file."""
    write_bytes_atomic(root / "data.bin", b"\x00\x01")
    with atomic_text_file(root / "notes.txt") as handle:
        handle.write("line\n")
    with atomic_directory(root / "folder") as folder:
        (folder / "inside.txt").write_text("x", encoding="utf8")


def assert_written(root: Path, mask: int) -> None:
    assert (root / "data.bin").read_bytes() == b"\x00\x01"
    assert (root / "notes.txt").read_text(encoding="utf8") == "line\n"
    assert (root / "folder" / "inside.txt").read_text(encoding="utf8") == "x"
    assert mode(root / "data.bin") == mode(root / "notes.txt") == 0o666 & ~mask == 0o640
    assert mode(root / "folder") == 0o777 & ~mask == 0o750
    assert sorted(p.name for p in root.iterdir()) == ["data.bin", "folder", "notes.txt"]  # no leftovers


def test_modes_follow_the_umask_without_changing_it(umask: int, tmp_path: Path):
    write_all(tmp_path)
    assert_written(tmp_path, umask)


def test_fallback_without_proc_status(umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(atomic, "_PROC_STATUS", tmp_path / "no-such-status")
    out = tmp_path / "out"
    out.mkdir()
    assert atomic._umask(out) == umask
    assert list(out.iterdir()) == []  # the probe file is gone
    write_all(out)
    assert_written(out, umask)


def test_umask_from_status_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    status = tmp_path / "status"
    monkeypatch.setattr(atomic, "_PROC_STATUS", status)
    status.write_text("Name:\tpython\nUmask:\t0027\nState:\tR (running)\n", encoding="ascii")
    assert atomic._umask_from_status() == 0o027
    status.write_text("Name:\tpython\nState:\tR (running)\n", encoding="ascii")  # kernels before 4.7
    assert atomic._umask_from_status() is None


def test_umask_stays_put_while_threads_write(umask: int, tmp_path: Path):
    # A thread keeps reading the umask while others write: it must never see another value.
    seen = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.add(atomic._umask(tmp_path))

    def write(n: int) -> None:
        for i in range(20):
            write_bytes_atomic(tmp_path / f"w{n}" / f"{i}.bin", b"x")

    poller = threading.Thread(target=poll)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    poller.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    poller.join()
    assert seen == {umask}
    assert {mode(p) for p in tmp_path.glob("w*/*.bin")} == {0o640}

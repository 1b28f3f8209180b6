"""Tests for fgen.util.atomic: all-or-nothing outputs with the modes open() and mkdir would give."""
import os
import stat
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fgen.util import atomic
from fgen.util.atomic import DurableAppend, append_durable, atomic_binary_file, atomic_directory, atomic_text_file, write_bytes_atomic

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


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every fsync (the path of its file descriptor) and rename, in order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_file_synced_before_rename_and_folder_after(tmp_path: Path, syncs: list):
    write_bytes_atomic(tmp_path / "a" / "data.bin", b"x")
    tmp_name = syncs[0][1]
    assert Path(tmp_name).parent == tmp_path / "a" and Path(tmp_name).name.startswith(".data.bin.")
    assert syncs == [("fsync", tmp_name), ("rename", str(tmp_path / "a" / "data.bin")), ("fsync", str(tmp_path / "a"))]
    syncs.clear()
    with atomic_text_file(tmp_path / "notes.txt") as handle:
        handle.write("line\n")
    assert [e[0] for e in syncs] == ["fsync", "rename", "fsync"] and syncs[-1] == ("fsync", str(tmp_path))
    syncs.clear()
    with atomic_binary_file(tmp_path / "journal.jsonl") as handle:
        handle.write(b"line\n")
    assert [e[0] for e in syncs] == ["fsync", "rename", "fsync"] and (tmp_path / "journal.jsonl").read_bytes() == b"line\n"


def test_folder_synced_with_its_files_before_rename(tmp_path: Path, syncs: list):
    with atomic_directory(tmp_path / "out") as folder:
        (folder / "inside.txt").write_text("x", encoding="utf8")
    tmp = Path(syncs[0][1]).parent
    assert syncs == [("fsync", str(tmp / "inside.txt")), ("fsync", str(tmp)), ("rename", str(tmp_path / "out")), ("fsync", str(tmp_path))]


def test_appended_lines_are_flushed_at_once_and_synced(tmp_path: Path, syncs: list):
    path = tmp_path / "log" / "manifest.jsonl"
    append_durable(path, b"one\n")
    # a new file: its folder entry is synced too
    assert syncs == [("fsync", str(path.parent)), ("fsync", str(path))]
    syncs.clear()
    with DurableAppend(path, sync_interval=3600) as log:
        log.write(b"two\n")
        assert path.read_bytes() == b"one\ntwo\n" and syncs == []  # flushed (a killed process keeps it), not yet synced
        log.write(b"three\n")
    assert syncs == [("fsync", str(path))]  # on close
    with DurableAppend(path) as log:  # interval 0: every write
        log.write(b"four\n")
        log.write(b"five\n")
    assert len(syncs) == 3 and path.read_bytes().splitlines() == [b"one", b"two", b"three", b"four", b"five"]

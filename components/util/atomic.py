"""Write outputs all at once or not at all: to a temporary sibling, then rename; and append to
logs so that a line, once written, survives.

One durability policy for every output, manifest, journal and cache file written here: the
temporary file is fsynced before the rename and its folder after it, so a file that exists after
a crash of the machine (not only of the process) is the complete new one. An append-only log
(`DurableAppend`) flushes each write at once (a killed process loses nothing it wrote) and
fsyncs at most `sync_interval` seconds apart and on close (a machine crash loses at most that
interval; readers drop a torn last line). What the fsyncs cost is in docs/scale-out.md.
"""
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, ContextManager, Iterator, Optional, Type, Union

# Linux (4.7+) reports the umask here; reading it is the only way that leaves it alone.
_PROC_STATUS = Path("/proc/self/status")


def _umask_from_status() -> Optional[int]:
    """The umask from `_PROC_STATUS`, or None where that file or its `Umask:` line is missing."""
    try:
        lines = _PROC_STATUS.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key == "Umask":
            return int(value.strip(), 8)
    return None


def _umask_from_new_file(directory: Path) -> int:
    """The umask, from the mode a file created in `directory` with mode 0o777 gets."""
    probe = directory / f".umask-probe-{uuid.uuid4().hex}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777)
    try:
        return 0o777 & ~os.fstat(fd).st_mode
    finally:
        os.close(fd)
        probe.unlink()


def _umask(directory: Path) -> int:
    """The process umask, read without changing it.

    os.umask only reads by setting a new mask: until it is set back, files that other threads
    create (benchmarks write in threads) get that mask, e.g. world-writable with 0.

    directory (Path): a writable folder, for the fallback where /proc is not available.
    RETURNS (int): the umask, e.g. 0o022.
    """
    mask = _umask_from_status()
    return mask if mask is not None else _umask_from_new_file(directory)


def sync_folder(folder: Union[str, Path]) -> None:
    """fsync `folder`, so the names created, renamed or removed in it survive a machine crash.
    File systems that cannot sync a folder (some network ones) are left as they are."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # EINVAL: not supported for folders here
        pass
    finally:
        os.close(fd)


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _atomic_file(path: Union[str, Path], mode: str, **open_kwargs: str) -> Iterator[IO]:
    """An open temporary sibling of `path` that replaces it only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points to it
        # mkstemp makes it private; the result should look like open()
        os.chmod(tmp, 0o666 & ~_umask(path.parent))
        os.replace(tmp, path)
        sync_folder(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Union[str, Path], data: bytes) -> None:
    """Write `data` to `path` so readers see either the old file or the complete new one."""
    with _atomic_file(path, "wb") as handle:
        handle.write(data)


@contextmanager
def atomic_directory(path: Union[str, Path]) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` when the block succeeds (removed if it fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask(path.parent))  # mkdtemp makes it private; make it look like a mkdir
    try:
        yield tmp
        for folder, _, names in os.walk(tmp, topdown=False):
            for name in names:
                _sync_file(Path(folder, name))
            sync_folder(folder)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        sync_folder(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_text_file(path: Union[str, Path]) -> ContextManager[IO[str]]:
    """A text file to stream into that replaces `path` only when the block succeeds (for outputs
    too large to build in memory for `write_bytes_atomic`)."""
    return _atomic_file(path, "w", encoding="utf8", newline="\n")


def atomic_binary_file(path: Union[str, Path]) -> ContextManager[IO[bytes]]:
    """A binary file to stream into that replaces `path` only when the block succeeds (e.g. a
    journal rewritten without its unreadable entries, which can be larger than memory)."""
    return _atomic_file(path, "wb")


class DurableAppend:
    """An append-only file (a log such as a manifest or a journal), written by this process only.
    Each `write` is flushed at once, so a killed process loses nothing it wrote; the file is
    fsynced when `sync_interval` seconds have passed since the last sync (0: after every write)
    and on close, so a machine crash loses at most that interval. A file this creates has its
    folder synced too.

    path (Path): the file, created when missing.
    sync_interval (float): most seconds between two fsyncs while writing.
    """

    def __init__(self, path: Union[str, Path], sync_interval: float = 0.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self.handle = self.path.open("ab")
        self.sync_interval = sync_interval
        self.pending = False
        self.last_sync = time.monotonic()
        if created:
            sync_folder(self.path.parent)

    def _sync(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.pending = False
        self.last_sync = time.monotonic()

    def write(self, data: bytes) -> None:
        """Append `data` (whole lines, for a reader to tell a torn last one) and flush it."""
        self.handle.write(data)
        self.handle.flush()
        self.pending = True
        if time.monotonic() - self.last_sync >= self.sync_interval:
            self._sync()

    def close(self) -> None:
        """Sync what is not synced yet and close the file."""
        if not self.handle.closed:
            try:
                if self.pending:
                    self._sync()
            finally:
                self.handle.close()

    def __enter__(self) -> "DurableAppend":
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()


def append_durable(path: Union[str, Path], data: bytes) -> None:
    """Append `data` to `path` and fsync it before returning (see `DurableAppend`)."""
    with DurableAppend(path) as log:
        log.write(data)

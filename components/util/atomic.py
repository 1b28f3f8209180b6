"""Write outputs all at once or not at all: to a temporary sibling, then rename."""
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, ContextManager, Iterator, Optional, Union

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


@contextmanager
def _atomic_file(path: Union[str, Path], mode: str, **open_kwargs: str) -> Iterator[IO]:
    """An open temporary sibling of `path` that replaces it only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
        # mkstemp makes it private; the result should look like open()
        os.chmod(tmp, 0o666 & ~_umask(path.parent))
        os.replace(tmp, path)
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
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_text_file(path: Union[str, Path]) -> ContextManager[IO[str]]:
    """A text file to stream into that replaces `path` only when the block succeeds (for outputs
    too large to build in memory for `write_bytes_atomic`)."""
    return _atomic_file(path, "w", encoding="utf8", newline="\n")

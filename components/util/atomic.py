"""Write outputs all at once or not at all: to a temporary sibling, then rename."""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, ContextManager, Iterator, Union


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def _atomic_file(path: Union[str, Path], mode: str, **open_kwargs: str) -> Iterator[IO]:
    """An open temporary sibling of `path` that replaces it only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result should look like open()
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
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should look like a mkdir
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

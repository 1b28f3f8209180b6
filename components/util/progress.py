"""Progress of a long command on stderr: one line rewritten in place on a terminal, a line per
update otherwise (logs keep every line, and no control characters).

`StatusLine` is the writer; `Progress` counts documents (docs/s, and an ETA when the total is
known), as `fgen-annotate` and `scripts/evaluate.py` show it; `fgen.runs.seed_progress` shows
training runs with it.
"""
import sys
import time
from typing import IO, Optional

CLEAR = "\r\x1b[K"


def format_eta(seconds: Optional[float]) -> str:
    """`seconds` left as "42s", "7 min" or "1.5 h"; "?" when unknown."""
    if seconds is None or seconds < 0:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def is_terminal(stream: IO[str]) -> bool:
    """Whether `stream` is a terminal (a stream without `isatty` is not)."""
    return bool(getattr(stream, "isatty", lambda: False)())


class StatusLine:
    """Writes status lines to `stream`: in place on a terminal, appended otherwise."""

    def __init__(self, stream: Optional[IO[str]] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = is_terminal(self.stream)
        self.shown = False

    def show(self, line: str) -> None:
        """Replace the line on a terminal; write it as a new line otherwise."""
        self.stream.write((CLEAR + line) if self.tty else line + "\n")
        self.stream.flush()
        self.shown = self.tty

    def clear(self) -> None:
        """Clear the in-place line (before other output)."""
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False


class Progress:
    """Documents done, docs/s and (given `total`) an ETA, at most every `interval` seconds.

    stream (Optional[IO[str]]): where to write; default stderr.
    interval (Optional[float]): seconds between lines; default 0.5 on a terminal, 30 otherwise.
    verb (str): what is done to the docs ("annotated", "evaluated").
    total (Optional[int]): docs in all, for the ETA; None: unknown.
    """

    def __init__(self, stream: Optional[IO[str]] = None, interval: Optional[float] = None,
                 verb: str = "annotated", total: Optional[int] = None):
        self.line = StatusLine(stream)
        self.stream = self.line.stream
        self.tty = self.line.tty
        self.interval = interval if interval is not None else (0.5 if self.tty else 30.0)
        self.verb = verb
        self.total = total
        self.start = self.last = time.monotonic()

    def _line(self, done: int, final: bool = False) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = done / elapsed
        if self.total is None or final:
            return f"{self.verb} {done} docs ({rate:.1f} docs/s)"
        left = (self.total - done) / rate if rate > 0 else None
        return f"{self.verb} {done}/{self.total} docs ({rate:.1f} docs/s, ETA {format_eta(left)})"

    @property
    def shown(self) -> bool:
        return self.line.shown

    def update(self, done: int) -> None:
        """Show `done` if `interval` seconds passed since the last line."""
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.line.show(self._line(done))

    def clear(self) -> None:
        """Clear the in-place line (before other output)."""
        self.line.clear()

    def close(self, done: int) -> None:
        """The final count, on a line of its own."""
        self.line.clear()
        self.stream.write(self._line(done, final=True) + "\n")
        self.stream.flush()

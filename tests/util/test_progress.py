"""fgen.util.progress: docs/s and an ETA on stderr, in place on a terminal, a line each in a log."""
import io

from fgen.util.progress import CLEAR, Progress, StatusLine, format_eta


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_format_eta():
    assert format_eta(None) == "?"
    assert format_eta(42) == "42s"
    assert format_eta(7 * 60) == "7 min"
    assert format_eta(3 * 3600) == "3.0 h"


def test_a_log_gets_a_line_per_update_a_terminal_one_line_rewritten():
    log, tty = io.StringIO(), Terminal()
    for stream in (log, tty):
        line = StatusLine(stream)
        line.show("first")
        line.show("second")
        line.clear()
    assert log.getvalue() == "first\nsecond\n"
    assert tty.getvalue() == f"{CLEAR}first{CLEAR}second{CLEAR}" and "\n" not in tty.getvalue()


def test_progress_with_a_total_shows_an_eta_until_the_end():
    stream = io.StringIO()
    progress = Progress(stream, interval=0, verb="evaluated", total=10)
    progress.update(4)
    progress.close(10)
    first, last = stream.getvalue().splitlines()
    assert first.startswith("evaluated 4/10 docs (") and "docs/s, ETA " in first
    assert last.startswith("evaluated 10 docs (") and "ETA" not in last


def test_progress_waits_for_its_interval():
    stream = io.StringIO()
    progress = Progress(stream, interval=3600)
    progress.update(1)
    assert stream.getvalue() == ""
    progress.close(2)
    assert stream.getvalue().startswith("annotated 2 docs (")

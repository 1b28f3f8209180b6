"""Plain text input: a `.txt` file is one record per non-blank line, or one for the whole file."""
from pathlib import Path
from typing import Iterator, Tuple, Union

from fgen.formats.records import Item, Problem, Record


def file_lines(path: Path) -> Iterator[Tuple[int, bytes]]:
    """(line number, bytes without the line end) of a file, a UTF-8 BOM dropped."""
    # Binary lines split on "\n" only: U+2028 and lone "\r" stay inside a record.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield number, raw.rstrip(b"\r\n")


def read_txt(path: Union[str, Path], whole_file: bool = False) -> Iterator[Item]:
    """Records of a text file: one per non-blank line (id `<stem>:<line>`), or one for the whole
    file with `whole_file` (id `<stem>`). Blank lines are skipped silently."""
    path = Path(path)
    if whole_file:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as err:
            yield Problem(str(path), f"not UTF-8 (byte {err.start})")
            return
        yield Record(path.stem, text, str(path)) if text.strip() else Problem(str(path), "empty text")
        return
    for number, raw in file_lines(path):
        try:
            line = raw.decode("utf8")
        except UnicodeDecodeError as err:
            yield Problem(f"{path}:{number}", f"not UTF-8 (byte {err.start})")
            continue
        if line.strip():
            yield Record(f"{path.stem}:{number}", line, f"{path}:{number}")

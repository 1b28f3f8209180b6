"""The journal of an annotation run: one line per annotated doc, so a long run can stop and
`--resume` without losing or repeating records."""
import base64
import binascii
import json
from pathlib import Path
from typing import Iterator, List, Optional, Set, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from fgen.annotate.inputs import Problem

JOURNAL_SUFFIX = ".partial.jsonl"


def journal_path(output: Union[str, Path]) -> Path:
    """Where the journal of a run writing `output` lives: `OUTPUT.partial.jsonl`, beside it."""
    output = Path(output)
    return output.with_name(output.name + JOURNAL_SUFFIX)


def journal_line(doc_id: str, doc: Doc) -> bytes:
    """One journal entry: the id and the Doc with its user data (links, confidences survive).
    Model internals are left out: `doc.tensor` and spacy-transformers' `doc._.trf_data` (the
    encoder's output for every wordpiece, far larger than the annotations)."""
    for key in [k for k in doc.user_data if isinstance(k, tuple) and k[:2] == ("._.", "trf_data")]:
        del doc.user_data[key]
    payload = base64.b64encode(doc.to_bytes(exclude=["tensor"])).decode("ascii")
    return (json.dumps({"id": doc_id, "doc": payload}, ensure_ascii=False) + "\n").encode("utf8")


def _parse_entry(line: bytes) -> Optional[Tuple[str, bytes]]:
    try:
        entry = json.loads(line.decode("utf8"))
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("doc"), str):
            return entry["id"], base64.b64decode(entry["doc"], validate=True)
    except (UnicodeDecodeError, json.JSONDecodeError, binascii.Error):
        pass
    return None


def recover_journal(path: Union[str, Path]) -> Tuple[Set[str], List[Problem]]:
    """Prepare the journal of an interrupted run for appending: an incomplete last line (the run
    stopped while writing it) is cut off; unreadable complete lines are ignored (their records
    are annotated again).

    RETURNS (Tuple[Set[str], List[Problem]]): the ids already annotated, and what was dropped.
    """
    path = Path(path)
    done: Set[str] = set()
    problems = []
    complete_size = 0  # bytes up to the end of the last complete line
    with path.open("r+b") as handle:  # streamed: a journal can be larger than memory
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                problems.append(Problem(f"{path}:{number}", "truncated last entry ignored"))
                handle.truncate(complete_size)  # so that appended entries start on a line of their own
                break
            complete_size += len(line)
            entry = _parse_entry(line[:-1])
            if entry is None:
                problems.append(Problem(f"{path}:{number}", "unreadable journal entry ignored; its record is annotated again"))
            else:
                done.add(entry[0])
    return done, problems


def read_journal(path: Union[str, Path], vocab: Vocab) -> Iterator[Tuple[str, Doc]]:
    """The (id, Doc) entries of a journal, in order; unreadable lines and repeated ids are left out."""
    seen: Set[str] = set()
    with Path(path).open("rb") as handle:
        for line in handle:
            entry = _parse_entry(line.rstrip(b"\n")) if line.endswith(b"\n") else None
            if entry is None or entry[0] in seen:
                continue
            seen.add(entry[0])
            yield entry[0], Doc(vocab).from_bytes(entry[1])

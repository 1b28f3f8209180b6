"""The journal of an annotation run: one line per annotated doc, so a long run can stop and
`--resume` without losing or repeating records.

The first line names the run's source: the model (name, version, path, a hash of its files or
weights) and the input (files with sizes and a hash of their content, `whole_file`); `--resume`
refuses a journal from another source. Content, not modification time: an input restored with
`cp` is the same input. Every other line is one record, in JSON:
`{"id": ID, "doc": base64(DocBin with this one doc)}` (DocBin keeps the annotations and user
data zlib-compressed, without the token vectors), or `{"id": ID, "failed": REASON}` for a
record the pipeline could not annotate, which is not tried again.
"""
import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from fgen.annotate.inputs import AnnotateError, Problem
from fgen.util.atomic import atomic_binary_file, write_bytes_atomic
from fgen.util.hashing import file_hash, folder_hash

JOURNAL_SUFFIX = ".partial.jsonl"
JOURNAL_VERSION = 3  # 3: input files identified by content (2: by modification time)
DocId = Union[str, int]


def journal_path(output: Union[str, Path]) -> Path:
    """Where the journal of a run writing `output` lives: `OUTPUT.partial.jsonl`, beside it."""
    output = Path(output)
    return output.with_name(output.name + JOURNAL_SUFFIX)


def _hash_components(nlp: Language) -> str:
    # The tokenizer's bytes change as it caches, so the config stands for it.
    digest = hashlib.sha256(nlp.config.to_str().encode("utf8"))
    for name, proc in nlp.pipeline:
        digest.update(name.encode("utf8") + b"\0")
        if hasattr(proc, "to_bytes"):
            digest.update(proc.to_bytes(exclude=["vocab"]))
    return digest.hexdigest()


def model_source(nlp: Language) -> Dict[str, Any]:
    """What identifies the pipeline: name, version, path, and a hash of the folder it was loaded
    from (else of its components' weights)."""
    path = Path(nlp.path) if nlp.path is not None else None
    # the whole folder, meta.json too: the journal records the name and version read from it
    hashed = folder_hash(path, exclude=()) if path is not None and path.is_dir() else _hash_components(nlp)
    name = f"{nlp.meta.get('lang', nlp.lang)}_{nlp.meta.get('name', '')}"
    return {"name": name, "version": str(nlp.meta.get("version", "")), "path": str(path.resolve()) if path else None, "hash": hashed}


def input_source(files: Sequence[Path], whole_file: bool) -> Dict[str, Any]:
    """What identifies the input: each file's path, size and content hash (`file_hash`), and `whole_file`."""
    rows = []
    for path in files:
        rows.append([str(path.resolve()), path.stat().st_size, file_hash(path)])
    return {"files": rows, "whole_file": whole_file}


def journal_header(model: Dict[str, Any], inputs: Dict[str, Any]) -> bytes:
    """The first line of a journal: the run's model and input (see `model_source`, `input_source`)."""
    header = {"fgen_annotate_journal": JOURNAL_VERSION, "model": model, "input": inputs}
    return (json.dumps(header, ensure_ascii=False) + "\n").encode("utf8")


def _mismatch(then: Dict[str, Any], now: Dict[str, Any]) -> Optional[str]:
    if then.get("model", {}).get("hash") != now["model"]["hash"] or then.get("model", {}).get("name") != now["model"]["name"]:
        old = then.get("model", {})
        return f"it was written with another model ({old.get('name')} {old.get('version')} at {old.get('path')}, not {now['model']['path'] or now['model']['name']})"
    old_files = {row[0]: row[1:] for row in then.get("input", {}).get("files", [])}
    new_files = {row[0]: row[1:] for row in now["input"]["files"]}
    for path in sorted(set(old_files) | set(new_files)):
        if path not in new_files:
            return f"it was written for another input ({path} is not part of this one)"
        if path not in old_files:
            return f"it was written for another input ({path} was not part of it)"
        if list(old_files[path]) != list(new_files[path]):
            return f"the input changed since ({path} has other content)"
    if bool(then.get("input", {}).get("whole_file")) != bool(now["input"]["whole_file"]):
        return "it was written with another --whole-file setting"
    return None


def journal_line(doc_id: DocId, doc: Doc) -> bytes:
    """One journal entry: the id and the Doc with its user data (links, confidences survive).
    Model internals are left out: `doc.tensor` and spacy-transformers' `doc._.trf_data` (the
    encoder's output for every wordpiece, far larger than the annotations)."""
    for key in [k for k in doc.user_data if isinstance(k, tuple) and k[:2] == ("._.", "trf_data")]:
        del doc.user_data[key]
    docbin = DocBin(store_user_data=True)  # drops doc.tensor, compresses
    docbin.add(doc)
    payload = base64.b64encode(docbin.to_bytes()).decode("ascii")
    return (json.dumps({"id": doc_id, "doc": payload}, ensure_ascii=False) + "\n").encode("utf8")


def failed_line(doc_id: DocId, reason: str) -> bytes:
    """A journal entry for a record the pipeline failed on: a resumed run skips it too."""
    return (json.dumps({"id": doc_id, "failed": reason}, ensure_ascii=False) + "\n").encode("utf8")


def _entry(line: bytes) -> Optional[Dict[str, Any]]:
    try:
        entry = json.loads(line.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or isinstance(entry.get("id"), bool) or not isinstance(entry.get("id"), (str, int)):
        return None
    if isinstance(entry.get("failed"), str) or isinstance(entry.get("doc"), str):
        return entry
    return None


def _doc(entry: Dict[str, Any], vocab: Vocab) -> Doc:
    """The Doc of an entry. RAISES (ValueError): it is not a DocBin of one doc."""
    try:
        docs = list(DocBin().from_bytes(base64.b64decode(entry["doc"], validate=True)).get_docs(vocab))
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # msgpack and zlib raise their own types on garbage
        raise ValueError(f"{type(err).__name__}: {err}") from None
    if len(docs) != 1:
        raise ValueError(f"{len(docs)} docs instead of one")
    return docs[0]


@dataclass
class JournalState:
    """What a journal holds: ids annotated, ids that failed, and entries it dropped."""

    done: set = field(default_factory=set)
    failed: set = field(default_factory=set)
    problems: List[Problem] = field(default_factory=list)


def start_journal(path: Union[str, Path], header: bytes) -> None:
    """Begin a new journal at `path` with `header` (see `journal_header`), atomically: a run
    killed meanwhile leaves the old journal or none, never part of a header."""
    write_bytes_atomic(path, header)


def recover_journal(path: Union[str, Path], header: Optional[bytes] = None) -> JournalState:
    """Check the journal of an interrupted run against this run's `header` and prepare it for
    appending: an incomplete last line (the run stopped while writing it) is cut off; an
    unreadable entry is dropped (its record is annotated again).

    RETURNS (JournalState): the ids already annotated or failed, and the problems found.
    RAISES (AnnotateError): the journal is from another model or input, or has no header.
    """
    path = Path(path)
    state = JournalState()
    keep: List[bytes] = []
    truncated_at: Optional[int] = None
    vocab = Vocab()
    with path.open("rb") as handle:  # streamed: a journal can be larger than memory
        first = handle.readline()
        if header is not None and not first.endswith(b"\n") and not handle.read(1):
            # stopped while the journal was being started: nothing was annotated yet
            state.problems.append(Problem(f"{path}:1", "incomplete header: the journal is started again"))
            start_journal(path, header)
            return state
        try:
            then = json.loads(first.decode("utf8")) if first.endswith(b"\n") else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            then = None
        if not isinstance(then, dict) or then.get("fgen_annotate_journal") != JOURNAL_VERSION:
            raise AnnotateError(f"{path}: cannot resume: not a journal of this version of fgen annotate; delete it to start over")
        if header is not None:
            reason = _mismatch(then, json.loads(header.decode("utf8")))
            if reason:
                raise AnnotateError(f"{path}: cannot resume: {reason}; delete the journal to start over, or resume with the same model and input")
        keep.append(first)
        for number, line in enumerate(handle, 2):
            if not line.endswith(b"\n"):
                state.problems.append(Problem(f"{path}:{number}", "truncated last entry ignored"))
                truncated_at = number
                break
            entry = _entry(line[:-1])
            try:
                if entry is None:
                    raise ValueError("not an entry")
                if "doc" in entry:
                    _doc(entry, vocab)
            except ValueError:
                state.problems.append(Problem(f"{path}:{number}", "unreadable entry (dropped; its record is annotated again)"))
                continue
            keep.append(line)
            # str: a journal written when integer ids stayed integers resumes with today's ids
            (state.failed if "failed" in entry else state.done).add(str(entry["id"]))
    dropped = len(state.problems) - (truncated_at is not None)
    if dropped:
        _rewrite(path, keep)
    elif truncated_at is not None:
        with path.open("r+b") as handle:  # so that appended entries start on a line of their own
            handle.truncate(sum(len(line) for line in keep))
            os.fsync(handle.fileno())  # else a machine crash can bring the torn entry back under new ones
    return state


def _rewrite(path: Path, lines: List[bytes]) -> None:
    with atomic_binary_file(path) as handle:
        handle.writelines(lines)


def read_journal(path: Union[str, Path], vocab: Vocab) -> Iterator[Tuple[str, Doc]]:
    """The (id, Doc) entries of a journal, in order (ids as strings); failed records and repeated
    ids are left out.

    RAISES (AnnotateError): an entry is unreadable (`--resume` drops it and annotates its record again).
    """
    seen = set()
    with Path(path).open("rb") as handle:
        handle.readline()  # the header
        for number, line in enumerate(handle, 2):
            entry = _entry(line.rstrip(b"\n")) if line.endswith(b"\n") else None
            if entry is not None and "failed" in entry:
                continue
            try:
                if entry is None:
                    raise ValueError("not an entry")
                doc = _doc(entry, vocab)
            except ValueError:
                raise AnnotateError(f"{path}:{number}: unreadable entry") from None
            doc_id = str(entry["id"])  # see `recover_journal`
            if doc_id in seen:
                continue
            seen.add(doc_id)
            yield doc_id, doc

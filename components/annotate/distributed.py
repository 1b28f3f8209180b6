"""Annotating many files on a Ray cluster with Ray Data, disk to disk: the run behind
`scripts/annotate_ray.py`.

One Ray task per input file, run by a pool of actors (`ActorPoolStrategy`) that each load the
pipeline once in `__init__` (a loaded `nlp` never goes through Ray's object store). A task reads
its file with the single-machine readers (`fgen.annotate.inputs.read_file`), annotates it with
the single-machine semantics (`fgen.annotate.isolation`: a record the pipeline fails on is
skipped and named, the rest written) and writes `OUTPUT_DIR/<input stem>.<ext>` all at once
(`fgen.util.atomic`: fsynced, renamed) in one of `FORMATS`. Parquet carries its manifest line in
its footer (`fgen.formats.parquet.MANIFEST_KEY`); the other formats (`fgen.formats.writers`) get
a sidecar `<output>.fgen-done` (`SIDECAR_SUFFIX`: the line, the output's size and SHA-256, its
ids) written atomically after the output's rename. The driver appends the line to
`OUTPUT_DIR/manifest.jsonl`. An input is done when its Parquet footer reads and holds the rows
its line records, or when its sidecar reads and the output's size and hash match it
(`done_entry`); a rerun skips those, and first appends the lines of finished files the manifest
lacks (a driver stopped between a worker's rename and its append). A worker
that dies mid-file is restarted by Ray and its task retried; an interrupted driver (SIGINT,
SIGTERM) stops the job, removes the temporaries and raises `Interrupted`. A local cluster
started here dies with the driver even when it is killed (`fgen.annotate.watchdog`).

Docs/scale-out.md has the fault model: what is exactly-once, what a node crash can leave.

Ray is imported only when a job runs: fgen works without the `distributed` extra.
"""
import glob
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from fgen.annotate.bounds import pipe_by_length, record_limit, token_limit, within_token_limit
from fgen.annotate.inputs import INPUT_SUFFIXES, AnnotateError, Problem, Record, input_files, input_suffix, read_file, within_max_length
from fgen.annotate.isolation import annotated_isolated, failures_collected
from fgen.formats.records import DeletedCitations, FileProblem
from fgen.formats.jsonl import doc_record
from fgen.annotate.watchdog import ClusterWatchdog
from fgen.formats.passages import PROVENANCE_KEY as PASSAGES
from fgen.formats.writers import SUFFIX_OF_FORMAT, write_file
from fgen.util.atomic import append_durable, write_bytes_atomic
from fgen.util.hashing import file_hash

MANIFEST = "manifest.jsonl"
# Ids found in several Parquet files of OUTPUT_DIR: a line per id with the files, in input order.
DUPLICATES = "duplicates.jsonl"
OUTPUT_SUFFIX = ".parquet"
# Output formats: Parquet (the default), or a file format of `fgen.formats.writers`.
FORMATS = ("parquet", "bioc-xml", "bioc-json", "pubtator")
# The sidecar of a non-Parquet output: JSON {"manifest", "bytes", "sha256", "ids"}, written after the
# output's rename, so it is the proof that the output is complete (no input suffix: never read as one).
SIDECAR_SUFFIX = ".fgen-done"
# With `markers`, `<output>._SUCCESS` is written last and marks it done: on object storage (S3,
# GCS, their FUSE mounts) a rename is a copy, so a file can exist half-written.
MARKER_SUFFIX = "._SUCCESS"
# Statement roles of the Parquet schema for a pipeline without `fgen_links` (the V2 categories).
DEFAULT_ROLES = ("PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE")
# Problems listed in a manifest line; the counts per reason cover all of them.
LISTED_PROBLEMS = 20


def check_format(fmt: str) -> str:
    """RETURNS (str): `fmt`, lower case, when it is one of `FORMATS`.
    RAISES (AnnotateError): another format."""
    if fmt.lower() not in FORMATS:
        raise AnnotateError(f"unknown output format {fmt!r} (choose {', '.join(FORMATS)})")
    return fmt.lower()


def output_suffix(fmt: str = "parquet") -> str:
    """The suffix of the outputs in format `fmt` (one of `FORMATS`), e.g. `.parquet`, `.xml`."""
    return OUTPUT_SUFFIX if fmt == "parquet" else SUFFIX_OF_FORMAT[fmt]


def output_name(path: Path, fmt: str = "parquet") -> str:
    """The output file name of an input: its name without the input suffix, plus the format's,
    e.g. `pubmed25n0001.xml.gz` -> `pubmed25n0001.parquet` (`pubmed25n0001.xml` for bioc-xml)."""
    suffix = input_suffix(path)
    stem = path.name[: -len(suffix)] if suffix and path.name.lower().endswith(suffix) else path.stem
    return stem + output_suffix(fmt)


def sidecar_path(output: Path) -> Path:
    """The sidecar of a non-Parquet output (see `SIDECAR_SUFFIX`)."""
    return output.with_name(output.name + SIDECAR_SUFFIX)


def write_sidecar(output: Path, entry: Dict[str, Any], ids: Sequence[str]) -> None:
    """Write the sidecar of the complete output `output` (already renamed into place): its
    manifest line, size, SHA-256 and ids, atomically. Written after the output, it is the proof
    that the output is done: a crash before it leaves an output that a rerun writes again."""
    sidecar = {"manifest": entry, "bytes": output.stat().st_size, "sha256": file_hash(output), "ids": list(ids)}
    write_bytes_atomic(sidecar_path(output), json.dumps(sidecar, ensure_ascii=False).encode("utf8"))


def _read_sidecar(output: Path) -> Optional[Dict[str, Any]]:
    """The sidecar of `output` when it reads, its output has the size and hash it records and its
    line the ids it lists; else None (missing, torn, stale, or an output half-copied or replaced)."""
    try:
        sidecar = json.loads(sidecar_path(output).read_bytes().decode("utf8"))
        entry, ids = sidecar["manifest"], sidecar["ids"]
        if output.stat().st_size != sidecar["bytes"] or not isinstance(entry, dict) or entry.get("annotated") != len(ids):
            return None
        return sidecar if file_hash(output) == sidecar["sha256"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def done_entry(output_dir: Path, path: Path, markers: bool = False, fmt: str = "parquet") -> Optional[Dict[str, Any]]:
    """The manifest line of the input `path` when its output in `output_dir` is complete: a
    Parquet file whose footer reads and holds the rows the line in it records, or an output of
    another format whose sidecar reads and matches it (size, SHA-256); with `markers`, its
    `_SUCCESS` marker exists too. Else None."""
    from fgen.formats.parquet import recorded_manifest

    output = output_dir / output_name(path, fmt)
    if markers and not output.with_name(output.name + MARKER_SUFFIX).exists():
        return None
    if not output.is_file():
        return None
    if fmt == "parquet":
        return recorded_manifest(output)
    sidecar = _read_sidecar(output)
    return sidecar["manifest"] if sidecar is not None else None


def is_done(output_dir: Path, path: Path, markers: bool = False, fmt: str = "parquet") -> bool:
    """Whether the input `path` has its complete output in `output_dir` (see `done_entry`): a
    file that merely exists (half-copied, truncated, from an older fgen) is not done."""
    return done_entry(output_dir, path, markers, fmt) is not None


def output_ids(output: Path, fmt: str = "parquet") -> List[str]:
    """The ids of a complete output, in order: the Parquet file's `id` column, else its sidecar's."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(output, columns=["id"]).column("id").to_pylist()
    sidecar = _read_sidecar(output)
    return list(sidecar["ids"]) if sidecar is not None else []


def expand_inputs(inputs: Sequence[Union[str, Path]], output_dir: Union[str, Path], fmt: str = "parquet") -> List[Path]:
    """The input files of INPUT... (files, folders, glob patterns), absolute, in order, without
    repeats; a folder contributes its files with an input suffix, OUTPUT_DIR is left out.

    RAISES (AnnotateError): an input that is missing or matches nothing, an unsupported file, or
        two inputs that would write the same output file (in format `fmt`).
    """
    output_dir = Path(output_dir).resolve()
    files: List[Path] = []
    for pattern in map(str, inputs):
        path = Path(pattern)
        if path.is_dir():
            found = [p for p in input_files(path, exclude=[output_dir]) if input_suffix(p) in INPUT_SUFFIXES]
        elif path.is_file():
            found = input_files(path)
        else:
            found = [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if Path(p).is_file()]
            if not found:
                raise AnnotateError(f"{pattern}: no such file or folder, and no file matches it")
            found = [p for f in found for p in input_files(f)]
        files.extend(p.resolve() for p in found)
    unique = list(dict.fromkeys(files))
    first: Dict[str, Path] = {}
    for path in unique:
        name = output_name(path, fmt)
        if name in first:
            raise AnnotateError(f"{path}: would write {name}, as {first[name]} does (input names must differ)")
        first[name] = path
    return unique


def pipeline_roles(nlp: Language) -> Tuple[str, ...]:
    """The statement roles of the pipeline's `fgen_links` component, else `DEFAULT_ROLES`."""
    for name in nlp.pipe_names:
        roles = nlp.get_pipe_config(name).get("roles")
        if nlp.get_pipe_meta(name).factory == "fgen_links" and roles:
            return tuple(roles)
    return DEFAULT_ROLES


def model_id(nlp: Language) -> Tuple[str, str]:
    """(`<lang>_<name>`, version) of the pipeline's meta, as a packaged pipeline is named."""
    return f"{nlp.meta.get('lang', nlp.lang)}_{nlp.meta.get('name', 'pipeline')}", str(nlp.meta.get("version", ""))


def model_record(nlp: Language) -> Dict[str, Optional[str]]:
    """What identifies the pipeline in the manifest: `model` and `model_version` (`model_id`) and
    `model_path`, the folder it was loaded from (a folder model's meta often keeps spaCy's
    defaults, `en_pipeline` 0.0.0: its path tells which one it was)."""
    model, version = model_id(nlp)
    return {"model": model, "model_version": version, "model_path": str(Path(nlp.path).resolve()) if nlp.path is not None else None}


def _reason_kind(problem: Problem) -> str:
    # "PMID 123: no abstract, skipped" and "PMID 456: no abstract, skipped" count as one reason.
    reason = problem.reason
    return reason.split(": ", 1)[1] if reason.startswith("PMID ") and ": " in reason else reason


class _FileReport:
    """What reading one file found: records, skipped items by reason, deleted PMIDs, a failure."""

    def __init__(self, path: Path):
        self.path = path
        self.read = 0
        self.skip_reasons: Counter = Counter()
        self.problems: List[str] = []
        self.deleted: List[str] = []
        self.failure: Optional[str] = None
        self.seen: Set[str] = set()
        self.annotated = 0
        self.failed_records: List[Dict[str, str]] = []  # every one, with its reason (rare)

    def skip(self, problem: Problem) -> None:
        self.skip_reasons[_reason_kind(problem)] += 1
        if len(self.problems) < LISTED_PROBLEMS:
            self.problems.append(str(problem))

    def texts(self, nlp: Language, max_chars: int, max_tokens: int) -> Iterator[Tuple[Union[str, Doc], Tuple[str, str, Optional[list]]]]:
        """(text or its Doc, (id, position, passages)) of the file's records within the limits
        (see `fgen.annotate.bounds`); problems are recorded, not yielded. `passages` are the
        record's, as dicts (for the formats with passages), or None."""
        try:
            for item in read_file(self.path):
                if isinstance(item, DeletedCitations):
                    self.deleted.extend(item.pmids)
                    continue
                if isinstance(item, FileProblem):
                    self.failure = str(item)
                    continue
                self.read += 1
                if isinstance(item, Record) and item.id in self.seen:
                    item = Problem(item.position, f"duplicate id {item.id!r}")
                else:
                    item = within_max_length(item, nlp.max_length, max_chars)
                if isinstance(item, Record):
                    text, too_long = within_token_limit(nlp, item.text, max_tokens)
                    item = Problem(item.position, too_long) if too_long else item
                if isinstance(item, Problem):
                    self.skip(item)
                else:
                    self.seen.add(item.id)
                    yield text, (item.id, item.position, [p.to_dict() for p in item.passages] or None)
        except OSError as err:
            self.failure = f"{self.path}: cannot read ({err.strerror or err})"


def annotate_file(
    nlp: Language, path: Path, output_dir: Path, batch_size: Optional[int] = None, markers: bool = False,
    max_chars: Optional[int] = None, max_tokens: Optional[int] = None, fmt: str = "parquet",
) -> Dict[str, Any]:
    """Annotate one input file and write `output_dir/<stem>.<ext>` atomically in format `fmt`:
    Parquet with its manifest line in the footer, or another format followed by its sidecar (see
    `write_sidecar`). A record the pipeline fails on (or Parquet cannot hold) is skipped and
    named in `failed_records`, the rest is written; a file whose reading failed (unreadable,
    malformed XML, corrupt gzip) gets no output, so a rerun tries it again.

    nlp (Language): the pipeline.
    path (Path): the input file.
    output_dir (Path): where the output goes.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    markers (bool): write `<output>._SUCCESS` after the output (and its sidecar).
    max_chars (Optional[int]): longer records are skipped (default: FGEN_MAX_RECORD_CHARS of
        this process, else `fgen.annotate.bounds.MAX_RECORD_CHARS`; at most `nlp.max_length`).
    max_tokens (Optional[int]): records of more tokens are skipped (default:
        FGEN_MAX_RECORD_TOKENS of this process, else `fgen.annotate.bounds.MAX_RECORD_TOKENS`).
    fmt (str): one of `FORMATS`.
    RETURNS (Dict[str, Any]): the manifest line: input, output, status ("done" or "failed"),
        records read, annotated (= the output's records), skipped (with `skip_reasons` and the
        first `problems`), `failed_records` (id, position, reason of each record the pipeline
        failed on), `deleted_pmids`, error, seconds (wall) and cpu_seconds (of this process: less
        than seconds when other processes share its CPUs), started and finished (epoch seconds),
        worker, `model`, `model_version`, `model_path`, `max_chars` and `max_tokens` (the limits
        applied), and `attempt` (unique to this write).
    """
    from fgen.formats.parquet import check_row, parquet_bytes, parquet_schema, schema_roles

    started, start, cpu_start = time.time(), time.perf_counter(), time.process_time()
    report = _FileReport(path)
    model = model_record(nlp)
    schema = parquet_schema(pipeline_roles(nlp))
    roles = schema_roles(schema)
    output = output_dir / output_name(path, fmt)
    limits = {"max_chars": record_limit(nlp.max_length, max_chars), "max_tokens": token_limit(max_tokens)}
    failures: List[BaseException] = []

    def pipe(stream: Iterator, alone: bool) -> Iterator:
        return annotated_isolated(nlp, stream, batch_size=1 if alone else batch_size, failures=failures)

    def docs() -> Iterator[Tuple[str, Doc]]:
        for (doc_id, position, passages), doc, reason in pipe_by_length(nlp, report.texts(nlp, **limits), pipe):
            if doc is None:
                report.skip(Problem(position, reason))
                report.failed_records.append({"id": doc_id, "position": position, "reason": reason})
                continue
            if passages:  # for the writers with passages (BioC, PubTator)
                doc._.provenance = {**(doc._.provenance or {}), PASSAGES: passages}
            report.annotated += 1
            yield doc_id, doc

    def rows() -> Iterator[Dict[str, Any]]:
        for (doc_id, position, _), doc, reason in pipe_by_length(nlp, report.texts(nlp, **limits), pipe):
            if doc is not None:
                row = {**doc_record(doc, doc_id), "source_file": path.name, "model": model["model"], "model_version": model["model_version"]}
                try:
                    check_row(row, roles)
                except ValueError as err:
                    doc, reason = None, f"cannot be written ({err})"
            if doc is None:
                report.skip(Problem(position, reason))
                report.failed_records.append({"id": doc_id, "position": position, "reason": reason})
                continue
            report.annotated += 1
            yield row

    def entry(rows_written: int) -> Dict[str, Any]:
        done = report.failure is None
        return {
            "input": str(path), "output": str(output) if done else None, "status": "done" if done else "failed",
            "records": report.read, "annotated": rows_written if done else 0, "skipped": sum(report.skip_reasons.values()),
            "skip_reasons": dict(report.skip_reasons), "problems": report.problems, "failed_records": report.failed_records,
            "deleted_pmids": report.deleted, "error": report.failure, "seconds": round(time.perf_counter() - start, 3),
            "cpu_seconds": round(time.process_time() - cpu_start, 3), "started": round(started, 3), "finished": round(time.time(), 3),
            "worker": worker_name(), **model, **limits, "attempt": uuid.uuid4().hex,
        }

    if fmt == "parquet":
        written: List[Dict[str, Any]] = []
        with failures_collected(nlp, failures):
            data = parquet_bytes(rows(), schema, manifest=lambda count: written.append(entry(count)) or written[-1])
        if report.failure is not None:
            return entry(0)
        write_bytes_atomic(output, data)
        line = written[-1]
    else:
        ids: List[str] = []

        def complete() -> Iterator[Tuple[str, Doc]]:
            for doc_id, doc in docs():
                ids.append(doc_id)
                yield doc_id, doc
            if report.failure is not None:  # raised inside the writer: its temporary is removed, nothing renamed
                raise _ReadFailed()

        try:
            with failures_collected(nlp, failures):
                write_file(fmt, complete(), output)
        except _ReadFailed:
            return entry(0)
        line = entry(len(ids))
        write_sidecar(output, line, ids)  # after the rename: the proof that the output is complete
    if markers:
        write_bytes_atomic(output.with_name(output.name + MARKER_SUFFIX), b"")
    return line


class _ReadFailed(Exception):
    """The input could not be read to its end: its output must not be written."""


def worker_name() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failed_entry(path: Path, error: str) -> Dict[str, Any]:
    """The manifest line of a file that produced no output (a task that kept failing)."""
    return {"input": str(path), "output": None, "status": "failed", "records": 0, "annotated": 0, "skipped": 0,
            "skip_reasons": {}, "problems": [], "failed_records": [], "deleted_pmids": [], "error": error, "seconds": None, "cpu_seconds": None, "started": None,
            "finished": None, "worker": None}


def append_manifest(output_dir: Path, entry: Dict[str, Any]) -> None:
    """Append one line to `output_dir/manifest.jsonl` (a log: each run adds the files it ran),
    synced before returning."""
    line = json.dumps({**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, ensure_ascii=False) + "\n"
    path = output_dir / MANIFEST
    try:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"  # a crash cut the last line: start a line of our own
    except OSError:  # missing or empty
        torn = False
    append_durable(path, (("\n" if torn else "") + line).encode("utf8"))


def _manifest_attempts(output_dir: Path) -> Set[str]:
    attempts = set()
    try:
        with (output_dir / MANIFEST).open("rb") as handle:
            for line in handle:
                try:
                    attempts.add(json.loads(line).get("attempt"))
                except (ValueError, AttributeError):  # a torn last line
                    continue
    except FileNotFoundError:
        pass
    return attempts


def done_entries(output_dir: Path, files: Sequence[Path], markers: bool = False, fmt: str = "parquet") -> Dict[Path, Dict[str, Any]]:
    """The manifest line of each of `files` whose output is complete (`done_entry`), checked once
    (a sidecar check reads the whole output to hash it)."""
    found = {path: done_entry(output_dir, path, markers, fmt) for path in files}
    return {path: entry for path, entry in found.items() if entry is not None}


def rebuild_manifest(
    output_dir: Path, files: Sequence[Path], markers: bool = False, fmt: str = "parquet", done: Optional[Dict[Path, Dict[str, Any]]] = None,
) -> List[Dict[str, Any]]:
    """Append to the manifest the line of every finished output of `files` that it lacks (a
    driver stopped after a worker renamed the file, before it appended the line), from the
    line in the Parquet file's footer or the output's sidecar, marked `"rebuilt": true`.

    done (Optional[Dict[Path, Dict[str, Any]]]): `done_entries` of `files`, when already checked.
    RETURNS (List[Dict[str, Any]]): the lines appended.
    """
    attempts = _manifest_attempts(output_dir)
    done = done_entries(output_dir, files, markers, fmt) if done is None else done
    added = []
    for path in files:
        entry = done.get(path)
        if entry is not None and entry.get("attempt") not in attempts:
            entry = {**entry, "rebuilt": True}
            append_manifest(output_dir, entry)
            added.append(entry)
    return added


# What `fgen.util.atomic` leaves of an interrupted write into OUTPUT_DIR: `.NAME.xxxxxxxx.tmp`.
_WRITTEN_SUFFIXES = sorted({output_suffix(f) for f in FORMATS} | {MARKER_SUFFIX, SIDECAR_SUFFIX, ".jsonl"})
_TEMPORARY = re.compile(r"\..+(" + "|".join(map(re.escape, _WRITTEN_SUFFIXES)) + r")\.[a-z0-9_]{8}\.tmp")


def remove_temporaries(output_dir: Path) -> List[Path]:
    """Remove the temporary files interrupted writes left in `output_dir` (no job may be writing
    into it). RETURNS (List[Path]): what was removed."""
    removed = []
    if output_dir.is_dir():
        for path in output_dir.iterdir():
            if _TEMPORARY.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def check_output_dir(output_dir: Path) -> None:
    """Refuse an OUTPUT_DIR the job cannot use, before anything runs: a file, a folder that cannot
    be created, or a file system without rename (every output is renamed into place).

    RAISES (AnnotateError): with a one-line reason.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise AnnotateError(f"{output_dir}: exists and is not a folder (OUTPUT_DIR is a folder of output files)")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".fgen-rename-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
    except OSError as err:
        raise AnnotateError(f"{output_dir}: cannot be written ({err.strerror or err})") from None
    try:
        os.replace(probe, probe.with_name(probe.name + ".renamed"))
        probe = probe.with_name(probe.name + ".renamed")
    except OSError as err:
        raise AnnotateError(
            f"{output_dir}: the file system cannot rename files ({err.strerror or err}), which every output needs: "
            "write to local disk or a file system with rename and upload afterwards (docs/scale-out.md)"
        ) from None
    finally:
        probe.unlink(missing_ok=True)


def report_duplicates(
    output_dir: Path, files: Sequence[Path], markers: bool = False, fmt: str = "parquet", done: Optional[Set[Path]] = None,
) -> int:
    """Find the ids that are in several finished outputs of `files` (PubMed's update files
    revise citations of earlier ones) and list them in `output_dir/duplicates.jsonl`, one line
    per id: `id`, `files` (in input order) and `kept`, the last of them, whose version wins
    (PubMed's file numbers grow with time). No duplicates: no file (an old one is removed).

    fmt (str): the outputs' format (ids from Parquet's `id` column or the sidecars).
    done (Optional[Set[Path]]): the inputs known to be done (else each is checked, `is_done`).
    RETURNS (int): the number of ids in several files.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [output_name(p, fmt) for p in files if (p in done if done is not None else is_done(output_dir, p, markers, fmt))]
    tables = []
    for number, name in enumerate(names):
        ids = output_ids(output_dir / name, fmt)
        tables.append(pa.table({"id": pa.array(ids, pa.string()), "file": pa.array([number] * len(ids), pa.int32())}))
    path = output_dir / DUPLICATES
    if not tables:
        path.unlink(missing_ok=True)
        return 0
    counts = pa.concat_tables(tables).group_by("id").aggregate([("file", "list")])
    repeated = counts.filter(pc.greater(pc.list_value_length(counts["file_list"]), 1)).to_pylist()
    if not repeated:
        path.unlink(missing_ok=True)
        return 0
    lines = []
    for row in sorted(repeated, key=lambda r: min(r["file_list"])):
        in_order = [names[n] for n in sorted(row["file_list"])]
        lines.append(json.dumps({"id": row["id"], "files": in_order, "kept": in_order[-1]}, ensure_ascii=False) + "\n")
    write_bytes_atomic(path, "".join(lines).encode("utf8"))
    return len(repeated)


class FileAnnotator:
    """The Ray Data actor: loads the pipeline once, then annotates one input file per call."""

    def __init__(
        self, model: str, output_dir: str, batch_size: Optional[int] = None, gpu: bool = False, code: Optional[str] = None, markers: bool = False,
        max_chars: Optional[int] = None, max_tokens: Optional[int] = None, fmt: str = "parquet",
    ):
        from spacy.cli._util import import_code

        import fgen  # noqa: F401  registers the Doc and Span extensions in this worker
        from fgen.annotate.loading import load_pipeline

        if code:
            import_code(Path(code))
        if gpu:
            import spacy

            spacy.require_gpu()
        self.nlp = load_pipeline(model)
        self.output_dir = Path(output_dir)
        self.batch_size = batch_size
        self.markers = markers
        self.limits = {"max_chars": max_chars, "max_tokens": max_tokens}
        self.fmt = fmt

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[str]]:
        entries = []
        for path in map(Path, batch["path"]):
            try:
                entry = annotate_file(self.nlp, path, self.output_dir, self.batch_size, self.markers, **self.limits, fmt=self.fmt)
            except Exception as err:  # a bug outside the records (e.g. the disk is full): that file fails, the job goes on
                entry = failed_entry(path, f"{path}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
                entry["worker"] = worker_name()
            entries.append(json.dumps(entry))
        return {"entry": entries}


@dataclass
class RunSummary:
    """What a distributed run did, in files and records."""

    files: int
    already_done: int
    done: int
    failed: int
    annotated: int
    seconds: float
    rebuilt: int = 0  # manifest lines restored from the outputs of earlier runs
    duplicates: int = 0  # ids in several outputs (see `report_duplicates`)


class Interrupted(Exception):
    """The driver was interrupted (SIGINT, SIGTERM): the job stopped, the files finished so far
    are in the manifest, temporaries are removed; `summary` counts this run, `signal` is the
    signal's name."""

    def __init__(self, summary: RunSummary, signal_name: str, left: int):
        super().__init__(f"interrupted by {signal_name}")
        self.summary = summary
        self.signal = signal_name
        self.left = left


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the driver waits, as SIGINT raises KeyboardInterrupt."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    # Ray's own SIGTERM handler exits at once (sys.exit), skipping the cleanup; only the main
    # thread can take a signal handler.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def connect(address: Optional[str], num_cpus: float) -> bool:
    """Join the cluster at `address` (`auto`, `ray://host:port`, `host:port`), or start a local
    one with `num_cpus` (and the GPUs Ray finds); RETURNS whether a local cluster was started here."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a cluster of this machine only
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)  # the manifest has what workers report
    return True


def check_resources(cpus_per_actor: float, gpus_per_actor: float) -> None:
    """RAISES (AnnotateError): the cluster cannot hold even one actor (Ray would wait for it forever)."""
    import ray

    available = ray.cluster_resources()
    for name, wanted, option in (("CPU", cpus_per_actor, "--cpus-per-actor"), ("GPU", gpus_per_actor, "--gpus-per-actor")):
        if wanted > available.get(name, 0):
            raise AnnotateError(f"{option} {wanted:g}: the cluster has {available.get(name, 0):g} {name}s in all")


def run(
    model: Union[str, Path],
    inputs: Sequence[Union[str, Path]],
    output_dir: Union[str, Path],
    *,
    actors: int = 1,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    batch_size: Optional[int] = None,
    address: Optional[str] = None,
    code: Optional[Path] = None,
    retries: int = 3,
    markers: bool = False,
    max_chars: Optional[int] = None,
    max_tokens: Optional[int] = None,
    fmt: str = "parquet",
    on_start: Optional[Callable[[int, int], None]] = None,
    on_file: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> RunSummary:
    """Annotate every input file that has no complete output in `output_dir` yet (see
    `done_entry`), on Ray; first restore the manifest lines of finished files it lacks
    (`rebuild_manifest`), last list the ids found in several files (`report_duplicates`).

    model (str): pipeline folder or installed package name, loadable on every worker.
    inputs (Sequence[Union[str, Path]]): files, folders or glob patterns.
    output_dir (Path): where the `<stem>.<ext>` outputs and `manifest.jsonl` go.
    actors (int): actors in the pool (each loads the pipeline once).
    cpus_per_actor (float): CPUs Ray reserves per actor.
    gpus_per_actor (float): GPUs per actor; > 0 makes the actors allocate on the GPU.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    address (Optional[str]): cluster to join (`auto`, `ray://...`); None starts a local one.
    code (Optional[Path]): Python file each actor imports first (custom components).
    retries (int): times a task is retried after its worker died.
    markers (bool): a file is done when its `_SUCCESS` marker exists too (object storage).
    max_chars (Optional[int]): longer records are skipped (default: FGEN_MAX_RECORD_CHARS of the
        driver, else `fgen.annotate.bounds.MAX_RECORD_CHARS`); the actors are given the value,
        so workers of a remote cluster apply the driver's limits.
    max_tokens (Optional[int]): records of more tokens are skipped (default: FGEN_MAX_RECORD_TOKENS
        of the driver, else `fgen.annotate.bounds.MAX_RECORD_TOKENS`); given to the actors too.
    fmt (str): the output format, one of `FORMATS`: Parquet, BioC XML or JSON, PubTator.
    on_start (Callable[[int, int], None]): called with the number of files to do and of files done before.
    on_file (Callable[[Dict[str, Any]], None]): called with each manifest line as it is written.
    RETURNS (RunSummary): counts of this run.
    RAISES (AnnotateError): unusable inputs, OUTPUT_DIR, format or limits, ray not installed, a cluster without
        room for an actor (before anything runs), or actors that cannot start (e.g. the pipeline
        does not load).
    RAISES (Interrupted): SIGINT or SIGTERM while the job ran (what finished is recorded).
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    try:  # resolved here: a remote worker's environment is not the driver's
        limits = {"max_chars": record_limit(sys.maxsize, max_chars), "max_tokens": token_limit(max_tokens)}
    except ValueError as err:
        raise AnnotateError(str(err)) from None
    fmt = check_format(fmt)
    files = expand_inputs(inputs, output_dir, fmt)
    check_output_dir(output_dir)
    remove_temporaries(output_dir)  # of an earlier run that was killed (one job per OUTPUT_DIR)
    finished = done_entries(output_dir, files, markers, fmt)  # once: a sidecar check hashes the output
    rebuilt = rebuild_manifest(output_dir, files, markers, fmt, done=finished)
    todo = [p for p in files if p not in finished]
    summary = RunSummary(len(files), len(files) - len(todo), 0, 0, 0, 0.0, rebuilt=len(rebuilt))
    done_now: Set[Path] = set(finished)

    def on_entry(entry: Dict[str, Any]) -> None:
        if entry["status"] == "done":
            done_now.add(Path(entry["input"]))
        if on_file is not None:
            on_file(entry)

    if on_start is not None:
        on_start(len(todo), summary.already_done)
    if todo:
        try:
            import ray
        except ImportError:
            raise AnnotateError("ray is not installed: pip install -e '.[distributed]' in the repository, or 'PIPELINE.whl[distributed]' with the pipeline wheel") from None
        try:
            _run_on_ray(ray, model, todo, output_dir, summary, actors, cpus_per_actor, gpus_per_actor, batch_size, address, code, retries,
                        markers, on_entry, {**limits, "fmt": fmt})
        except KeyboardInterrupt as err:
            remove_temporaries(output_dir)  # the workers are stopped: what they left half-written
            done_todo = done_entries(output_dir, todo, markers, fmt)
            for entry in rebuild_manifest(output_dir, todo, markers, fmt, done=done_todo):  # finished, their lines not yet here
                _tally(summary, entry, on_file)
            summary.seconds = time.perf_counter() - start
            raise Interrupted(summary, "SIGTERM" if isinstance(err, _Terminated) else "SIGINT", len(todo) - len(done_todo)) from None
    if len(files) > 1:
        summary.duplicates = report_duplicates(output_dir, files, markers, fmt, done=done_now)
    summary.seconds = time.perf_counter() - start
    return summary


def _run_on_ray(
    ray: Any, model: Union[str, Path], todo: List[Path], output_dir: Path, summary: RunSummary, actors: int, cpus_per_actor: float,
    gpus_per_actor: float, batch_size: Optional[int], address: Optional[str], code: Optional[Path], retries: int, markers: bool,
    on_file: Optional[Callable[[Dict[str, Any]], None]], actor_options: Dict[str, Any],
) -> None:
    """The Ray part of `run`: connect (or start a local cluster, shut down at the end, and
    killed with the driver by a `ClusterWatchdog`), then `_stream`."""
    local = not address and not ray.is_initialized()
    with ClusterWatchdog() if local else nullcontext() as watchdog:
        # Headroom of one CPU: actors that hold every CPU leave none for Ray Data's own tasks (a hang).
        started_here = connect(address, num_cpus=max(os.cpu_count() or 1, actors * cpus_per_actor + 1))
        if watchdog is not None:
            watchdog.send_new()  # the cluster's processes so far; it rescans for later ones
        try:
            with _terminate_as_interrupt():  # after ray.init, which sets its own handler
                _stream(ray, model, todo, output_dir, summary, actors, cpus_per_actor, gpus_per_actor, batch_size, code, retries, markers, on_file, actor_options)
        finally:
            if started_here:
                ray.shutdown()  # also when interrupted: stops the workers and the local cluster's agents


def _stream(
    ray: Any, model: Union[str, Path], todo: List[Path], output_dir: Path, summary: RunSummary, actors: int, cpus_per_actor: float,
    gpus_per_actor: float, batch_size: Optional[int], code: Optional[Path], retries: int, markers: bool,
    on_file: Optional[Callable[[Dict[str, Any]], None]], actor_options: Dict[str, Any],
) -> None:
    """The dataset of `todo` mapped by the actor pool, a manifest line per file as it arrives."""
    check_resources(cpus_per_actor, gpus_per_actor)
    context = ray.data.DataContext.get_current()
    context.max_errored_blocks = -1  # a task that keeps failing loses its file, not the job
    context.enable_progress_bars = False  # on_file reports progress
    local_model = Path(model)
    dataset = ray.data.from_items([{"path": str(p)} for p in todo], override_num_blocks=len(todo)).map_batches(
        FileAnnotator,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
        fn_constructor_kwargs={
            "model": str(local_model.resolve()) if local_model.exists() else str(model), "output_dir": str(output_dir.resolve()),
            "batch_size": batch_size, "gpu": gpus_per_actor > 0, "code": str(Path(code).resolve()) if code else None, "markers": markers,
            **actor_options,  # the record limits and the format
        },
        max_task_retries=retries,  # bounded (Ray Data's default retries forever); a ray_remote_args item, deprecated from Ray 2.64 on
    )
    seen: Set[str] = set()
    # Each file's line as soon as its block arrives: no batching across blocks, no prefetch.
    try:
        for batch in dataset.iter_batches(batch_size=None, prefetch_batches=0):
            for line in batch["entry"]:
                entry = json.loads(line)
                seen.add(entry["input"])
                _count(summary, entry, output_dir, on_file)
    except ray.exceptions.ActorDiedError as err:  # its __init__ failed: the pipeline cannot load there
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise AnnotateError(f"the actors cannot start: {lines[-1] if lines else type(err).__name__}") from None
    for path in todo:
        if str(path) not in seen:
            _count(summary, failed_entry(path, f"{path}: no result: its task failed {retries + 1} times (a worker crash?)"), output_dir, on_file)


def _tally(summary: RunSummary, entry: Dict[str, Any], on_file: Optional[Callable[[Dict[str, Any]], None]]) -> None:
    if entry["status"] == "done":
        summary.done += 1
        summary.annotated += entry["annotated"]
    else:
        summary.failed += 1
    if on_file is not None:
        on_file(entry)


def _count(summary: RunSummary, entry: Dict[str, Any], output_dir: Path, on_file: Optional[Callable[[Dict[str, Any]], None]]) -> None:
    append_manifest(output_dir, entry)
    _tally(summary, entry, on_file)

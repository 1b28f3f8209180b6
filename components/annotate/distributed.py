"""Annotating many files on a Ray cluster with Ray Data, disk to disk: the run behind
`scripts/annotate_ray.py`.

One Ray task per input file, run by a pool of actors (`ActorPoolStrategy`) that each load the
pipeline once in `__init__` (a loaded `nlp` never goes through Ray's object store). A task reads
its file with the single-machine readers (`fgen.annotate.inputs.read_file`), annotates it and
writes `OUTPUT_DIR/<input stem>.parquet` all at once, so a file exists only when complete; the
driver appends the task's counts to `OUTPUT_DIR/manifest.jsonl`. A rerun skips the inputs whose
Parquet file exists: a crash, a failed file or an interrupted job costs only the files it left
unwritten. A worker that dies mid-file is restarted by Ray and its task retried.

Ray is imported only when a job runs: fgen works without the `distributed` extra.
"""
import glob
import json
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language

from fgen.annotate.inputs import INPUT_SUFFIXES, AnnotateError, Problem, Record, input_files, input_suffix, read_file, within_max_length
from fgen.annotate.pubmed import DeletedCitations, FileProblem
from fgen.annotate.records import doc_record
from fgen.util.atomic import write_bytes_atomic

MANIFEST = "manifest.jsonl"
OUTPUT_SUFFIX = ".parquet"
# With `markers`, `<stem>.parquet._SUCCESS` is written after the Parquet file and marks it done: on
# object storage (S3, GCS, their FUSE mounts) a rename is a copy, so a file can exist half-written.
MARKER_SUFFIX = "._SUCCESS"
# Statement roles of the Parquet schema for a pipeline without `fgen_links` (the V2 categories).
DEFAULT_ROLES = ("PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE")
# Problems listed in a manifest line; the counts per reason cover all of them.
LISTED_PROBLEMS = 20


def output_name(path: Path) -> str:
    """The Parquet file name of an input: its name without the input suffix, e.g.
    `pubmed25n0001.xml.gz` -> `pubmed25n0001.parquet`."""
    suffix = input_suffix(path)
    stem = path.name[: -len(suffix)] if suffix and path.name.lower().endswith(suffix) else path.stem
    return stem + OUTPUT_SUFFIX


def is_done(output_dir: Path, path: Path, markers: bool = False) -> bool:
    """Whether the input `path` has its output in `output_dir`: the Parquet file, or with
    `markers` its `_SUCCESS` marker."""
    output = output_dir / output_name(path)
    return (output.with_name(output.name + MARKER_SUFFIX) if markers else output).exists()


def expand_inputs(inputs: Sequence[Union[str, Path]], output_dir: Union[str, Path]) -> List[Path]:
    """The input files of INPUT... (files, folders, glob patterns), absolute, in order, without
    repeats; a folder contributes its files with an input suffix, OUTPUT_DIR is left out.

    RAISES (AnnotateError): an input that is missing or matches nothing, an unsupported file, or
        two inputs that would write the same Parquet file.
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
        name = output_name(path)
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

    def skip(self, problem: Problem) -> None:
        self.skip_reasons[_reason_kind(problem)] += 1
        if len(self.problems) < LISTED_PROBLEMS:
            self.problems.append(str(problem))

    def texts(self, max_length: int) -> Iterator[Tuple[str, str]]:
        """(text, id) of the file's records; problems are recorded, not yielded."""
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
                    item = within_max_length(item, max_length)
                if isinstance(item, Problem):
                    self.skip(item)
                else:
                    self.seen.add(item.id)
                    yield item.text, item.id
        except OSError as err:
            self.failure = f"{self.path}: cannot read ({err.strerror or err})"


def annotate_file(nlp: Language, path: Path, output_dir: Path, batch_size: Optional[int] = None, markers: bool = False) -> Dict[str, Any]:
    """Annotate one input file and write `output_dir/<stem>.parquet` atomically; a file whose
    reading failed (unreadable, malformed XML, corrupt gzip) gets no Parquet file, so a rerun
    tries it again.

    nlp (Language): the pipeline.
    path (Path): the input file.
    output_dir (Path): where the Parquet file goes.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    markers (bool): write `<stem>.parquet._SUCCESS` after the Parquet file.
    RETURNS (Dict[str, Any]): the manifest line: input, output, status ("done" or "failed"),
        records read, annotated, skipped (with `skip_reasons` and the first `problems`),
        `deleted_pmids`, error, seconds (wall) and cpu_seconds (of this process: less than seconds
        when other processes share its CPUs), started and finished (epoch seconds), worker.
    """
    from fgen.annotate.parquet import parquet_bytes, parquet_schema

    started, start, cpu_start = time.time(), time.perf_counter(), time.process_time()
    report = _FileReport(path)
    model, version = model_id(nlp)
    rows = (
        {**doc_record(doc, doc_id), "source_file": path.name, "model": model, "model_version": version}
        for doc, doc_id in nlp.pipe(report.texts(nlp.max_length), as_tuples=True, batch_size=batch_size)
    )
    output = output_dir / output_name(path)
    data = parquet_bytes(rows, parquet_schema(pipeline_roles(nlp)))
    done = report.failure is None
    if done:
        write_bytes_atomic(output, data)
        if markers:
            write_bytes_atomic(output.with_name(output.name + MARKER_SUFFIX), b"")
    return {
        "input": str(path), "output": str(output) if done else None, "status": "done" if done else "failed",
        "records": report.read, "annotated": len(report.seen) if done else 0, "skipped": sum(report.skip_reasons.values()),
        "skip_reasons": dict(report.skip_reasons), "problems": report.problems, "deleted_pmids": report.deleted,
        "error": report.failure, "seconds": round(time.perf_counter() - start, 3), "cpu_seconds": round(time.process_time() - cpu_start, 3),
        "started": round(started, 3), "finished": round(time.time(), 3), "worker": worker_name(),
        "model": model, "model_version": version,
    }


def worker_name() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failed_entry(path: Path, error: str) -> Dict[str, Any]:
    """The manifest line of a file that produced no output (a task that kept failing)."""
    return {"input": str(path), "output": None, "status": "failed", "records": 0, "annotated": 0, "skipped": 0,
            "skip_reasons": {}, "problems": [], "deleted_pmids": [], "error": error, "seconds": None, "cpu_seconds": None, "started": None,
            "finished": None, "worker": None}


def append_manifest(output_dir: Path, entry: Dict[str, Any]) -> None:
    """Append one line to `output_dir/manifest.jsonl` (a log: each run adds the files it ran)."""
    with (output_dir / MANIFEST).open("a", encoding="utf8") as handle:
        handle.write(json.dumps({**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, ensure_ascii=False) + "\n")


class FileAnnotator:
    """The Ray Data actor: loads the pipeline once, then annotates one input file per call."""

    def __init__(
        self, model: str, output_dir: str, batch_size: Optional[int] = None, gpu: bool = False, code: Optional[str] = None, markers: bool = False
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

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[str]]:
        entries = []
        for path in map(Path, batch["path"]):
            try:
                entry = annotate_file(self.nlp, path, self.output_dir, self.batch_size, self.markers)
            except Exception as err:  # a bug or a doc the output cannot hold: that file fails, the job goes on
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
    on_start: Optional[Callable[[int, int], None]] = None,
    on_file: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> RunSummary:
    """Annotate every input file that has no Parquet file in `output_dir` yet, on Ray.

    model (str): pipeline folder or installed package name, loadable on every worker.
    inputs (Sequence[Union[str, Path]]): files, folders or glob patterns.
    output_dir (Path): where `<stem>.parquet` files and `manifest.jsonl` go.
    actors (int): actors in the pool (each loads the pipeline once).
    cpus_per_actor (float): CPUs Ray reserves per actor.
    gpus_per_actor (float): GPUs per actor; > 0 makes the actors allocate on the GPU.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    address (Optional[str]): cluster to join (`auto`, `ray://...`); None starts a local one.
    code (Optional[Path]): Python file each actor imports first (custom components).
    retries (int): times a task is retried after its worker died.
    markers (bool): a file is done when its `_SUCCESS` marker exists (object storage), not its Parquet file.
    on_start (Callable[[int, int], None]): called with the number of files to do and of files done before.
    on_file (Callable[[Dict[str, Any]], None]): called with each manifest line as it is written.
    RETURNS (RunSummary): counts of this run.
    RAISES (AnnotateError): unusable inputs, ray not installed, a cluster without room for an
        actor (before anything runs), or actors that cannot start (e.g. the pipeline does not load).
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    files = expand_inputs(inputs, output_dir)
    todo = [p for p in files if not is_done(output_dir, p, markers)]
    summary = RunSummary(len(files), len(files) - len(todo), 0, 0, 0, 0.0)
    if on_start is not None:
        on_start(len(todo), summary.already_done)
    if not todo:
        return summary
    try:
        import ray
    except ImportError:
        raise AnnotateError("ray is not installed: pip install 'fgen[distributed]'") from None
    output_dir.mkdir(parents=True, exist_ok=True)

    # Headroom of one CPU: actors that hold every CPU leave none for Ray Data's own tasks (a hang).
    started_here = connect(address, num_cpus=max(os.cpu_count() or 1, actors * cpus_per_actor + 1))
    try:
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
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - start
    return summary


def _count(summary: RunSummary, entry: Dict[str, Any], output_dir: Path, on_file: Optional[Callable[[Dict[str, Any]], None]]) -> None:
    append_manifest(output_dir, entry)
    if entry["status"] == "done":
        summary.done += 1
        summary.annotated += entry["annotated"]
    else:
        summary.failed += 1
    if on_file is not None:
        on_file(entry)

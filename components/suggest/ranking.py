"""`fgen-suggest`: rank a pool of unannotated abstracts by what is worth annotating next, and
pre-annotate the best ones as MAE files.

Every pool record is annotated and measured (`fgen.suggest.uncertainty`); each signal is then
turned into its percentile among the pool's records (ties share their mean rank), so signals of
different scales and a few extreme records weigh alike, and the score is their weighted sum
(`STRATEGIES`):

- `combined` (the default): disagreement 0.4, marginal 0.4, statements 0.2. Most wrong words
  are whole mentions that one annotator tags and the other not (docs/benchmarks.md), so the two
  entity signals carry most of the weight: the members' disagreement is what the committee does
  not know, the CRF marginal what the averaged model is unsure of; statements build on
  entities. A single pipeline has no disagreement: its weight goes to the others in proportion.
- `uncertainty`: marginal 2/3, statements 1/3 (no committee needed);
- `disagreement`: the members' disagreement alone (an ensemble pipeline only);
- `random`: a seeded random score, the baseline to compare the others with.

Records are read as `scripts/annotate.py` reads them (`fgen.annotate.inputs.read_records`) and
bounded as there (`fgen.annotate.bounds`: too long skipped, long ones annotated alone); a
record the pipeline fails on is skipped and named, never fatal. Records whose PMID (a PubMed
XML record's, or an id of 5-9 digits, optionally `PMID`-prefixed) is already in the corpus are
left out and counted. Only per-record numbers are kept while scoring; the top N are annotated
again at the end to write them, so memory does not grow with the pool.
"""
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import numpy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import minibatch
from spacy.vocab import Vocab

from fgen.annotate.bounds import pipe_by_length, token_limit, within_token_limit
from fgen.annotate.inputs import AnnotateError, Problem, Record, read_records, within_max_length
from fgen.annotate.isolation import failure_reason
from fgen.annotate.outputs import mae_file_content, safe_file_name, write_mae_folder
from fgen.corpus.conversion import collect_files, pmid_of
from fgen.corpus.schemes import Scheme
from fgen.doc_layout import get_links
from fgen.suggest.uncertainty import Uncertainty, annotate_with_uncertainty

SIGNALS = ("disagreement", "marginal", "statements")
STRATEGIES: Dict[str, Dict[str, float]] = {
    "combined": {"disagreement": 0.4, "marginal": 0.4, "statements": 0.2},
    "uncertainty": {"marginal": 2 / 3, "statements": 1 / 3},
    "disagreement": {"disagreement": 1.0},
    "random": {},
}
RANKING_FILE = "ranking.csv"
SUMMARY_FILE = "summary.json"
COLUMNS = ("id", "rank", "score", *SIGNALS, "n_tokens", "n_entities", "n_statements")
TOOL = "fgen suggest"
_PMID_ID = re.compile(r"(?:PMID)?_?(\d{5,9})", re.IGNORECASE)


@dataclass
class Scored:
    """One pool record measured: its id, PMID and the pipeline's signals and output sizes."""

    id: str
    uncertainty: Uncertainty
    n_tokens: int
    n_entities: int
    n_statements: int


@dataclass
class PoolScores:
    """What scoring a pool found: scored records, ids left out as already annotated, problems."""

    scored: List[Scored] = field(default_factory=list)
    in_corpus: List[str] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)


def record_pmid(record: Record) -> Optional[str]:
    """The PMID of a pool record: PubMed XML's, else its id when that is one."""
    if record.pmid:
        return record.pmid
    match = _PMID_ID.fullmatch(record.id.strip())
    return match.group(1) if match else None


def corpus_pmids(paths: Iterable[Union[str, Path]]) -> Set[str]:
    """The PMIDs of an annotated corpus: MAE files or folders (from the file names, as
    `scripts/convert.py` reads them) and DocBins (from `doc._.provenance`).

    RAISES (AnnotateError): a path that is missing or not a readable DocBin.
    """
    pmids: Set[str] = set()
    for path in map(Path, paths):
        if path.suffix == ".spacy" and path.is_file():
            try:
                docs = DocBin().from_disk(path).get_docs(Vocab())
                pmids.update(str(d._.provenance["pmid"]) for d in docs if (d._.provenance or {}).get("pmid"))
            except ValueError as err:
                raise AnnotateError(f"{path}: not a readable DocBin ({' '.join(str(err).split())[:120]})") from None
            continue
        try:
            pmids.update(p for p in map(pmid_of, collect_files([path])) if p)
        except FileNotFoundError as err:
            raise AnnotateError(str(err)) from None
    return pmids


Item = Tuple[Union[str, Doc], str]  # (text or its Doc, record id)
Result = Tuple[str, Optional[Doc], Optional[Uncertainty], Optional[str]]  # id, doc, signals, failure


def _annotated(nlp: Language, stream: Iterable[Item], batch_size: int) -> Iterator[Result]:
    """Annotate and measure `stream` in batches; a failing batch is tried again one record at a
    time, so only the records that fail alone are lost (as `fgen.annotate.isolation`)."""
    for batch in minibatch(stream, batch_size):
        try:
            docs = [text if isinstance(text, Doc) else nlp.make_doc(text) for text, _ in batch]
            measured = annotate_with_uncertainty(nlp, docs)
            yield from ((doc_id, doc, u, None) for (_, doc_id), doc, u in zip(batch, docs, measured))
            continue
        except Exception as err:  # the pipeline's error, whatever it is: isolated below
            if len(batch) == 1:
                yield batch[0][1], None, None, failure_reason(err)
                continue
        for item in batch:
            yield from _annotated(nlp, [item], 1)


def annotate_pool(
    nlp: Language, files: Sequence[Path], keep: Callable[[Record], Optional[str]], *, batch_size: int = 16,
    max_chars: Optional[int] = None, max_tokens: Optional[int] = None, on_problem: Callable[[Problem], None] = lambda p: None,
) -> Iterator[Result]:
    """Annotate the bounded records of `files` that `keep` lets through, in input order.

    keep (Callable[[Record], Optional[str]]): None to annotate a record, else why it is left out
        (not a problem: e.g. it is in the corpus).
    RETURNS (Iterator[Result]): (id, doc, signals, None), or (id, None, None, reason) on failure.
    """
    tokens = token_limit(max_tokens)

    def texts() -> Iterator[Item]:
        for item in read_records(files):
            item = within_max_length(item, nlp.max_length, max_chars)
            if isinstance(item, Record) and keep(item) is not None:
                continue
            text: Union[str, Doc] = ""
            if isinstance(item, Record):
                text, too_long = within_token_limit(nlp, item.text, tokens)
                item = Problem(item.position, too_long) if too_long else item
            if isinstance(item, Problem):
                on_problem(item)
            else:
                yield text, item.id

    return pipe_by_length(nlp, texts(), lambda stream, alone: _annotated(nlp, stream, 1 if alone else batch_size))


def score_pool(nlp: Language, files: Sequence[Path], known_pmids: Set[str], **options) -> PoolScores:
    """Measure every record of `files` whose PMID is not in `known_pmids` (see `annotate_pool`
    for the options). RETURNS (PoolScores): the scored records, ids in the corpus, problems."""
    found = PoolScores()

    def keep(record: Record) -> Optional[str]:
        if record_pmid(record) in known_pmids:
            found.in_corpus.append(record.id)
            return "in the corpus"
        return None

    for doc_id, doc, measured, reason in annotate_pool(nlp, files, keep, on_problem=found.problems.append, **options):
        if doc is None:
            found.problems.append(Problem(doc_id, reason or "failed"))
        else:
            found.scored.append(Scored(doc_id, measured, len(doc), len(doc.ents), len(get_links(doc))))
    return found


def percentiles(values: Sequence[float]) -> numpy.ndarray:
    """Each value's rank among `values` scaled to [0, 1] (ties share their mean rank; one value: 1)."""
    values = numpy.asarray(values, dtype=float)
    if len(values) < 2:
        return numpy.ones(len(values))
    order = numpy.argsort(values, kind="stable")
    ranks = numpy.empty(len(values))
    ranks[order] = numpy.arange(len(values), dtype=float)
    for value in numpy.unique(values):  # ties: their mean rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks / (len(values) - 1)


def strategy_weights(strategy: str, has_disagreement: bool) -> Dict[str, float]:
    """The weights of `strategy`; without a committee the disagreement weight is shared out.

    RAISES (AnnotateError): an unknown strategy, or `disagreement` without an ensemble.
    """
    if strategy not in STRATEGIES:
        raise AnnotateError(f"--strategy {strategy}: unknown (choose {', '.join(STRATEGIES)})")
    weights = dict(STRATEGIES[strategy])
    if not has_disagreement and weights.get("disagreement"):
        if strategy == "disagreement":
            raise AnnotateError("--strategy disagreement needs an ensemble pipeline (fgen.ner_ensemble.v1 with 2+ members)")
        rest = {k: w for k, w in weights.items() if k != "disagreement"}
        total = sum(rest.values())
        weights = {k: w / total for k, w in rest.items()}
    return weights


def rank(scored: Sequence[Scored], strategy: str = "combined", seed: int = 0) -> List[Tuple[Scored, float]]:
    """The records with their scores, best first (ties: input order).

    RAISES (AnnotateError): see `strategy_weights`.
    """
    has_disagreement = bool(scored) and all(s.uncertainty.disagreement is not None for s in scored)
    weights = strategy_weights(strategy, has_disagreement)
    if strategy == "random":
        scores = numpy.random.default_rng(seed).random(len(scored))
    else:
        scores = numpy.zeros(len(scored))
        for signal, weight in weights.items():
            scores += weight * percentiles([getattr(s.uncertainty, signal) for s in scored])
    order = sorted(range(len(scored)), key=lambda i: (-scores[i], i))
    return [(scored[i], float(scores[i])) for i in order]


def ranking_csv(ranked: Sequence[Tuple[Scored, float]]) -> str:
    """`ranking.csv`: `COLUMNS`, one row per record, rank 1 first; a missing signal is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for position, (s, score) in enumerate(ranked, 1):
        signals = [getattr(s.uncertainty, name) for name in SIGNALS]
        writer.writerow([s.id, position, f"{score:.6f}", *("" if v is None else f"{v:.6f}" for v in signals),
                         s.n_tokens, s.n_entities, s.n_statements])
    return out.getvalue()


def suggest(
    nlp: Language, files: Sequence[Path], output_dir: Union[str, Path], scheme: Scheme, *, top: int = 10,
    strategy: str = "combined", corpus: Sequence[Path] = (), seed: int = 0, batch_size: int = 16,
    max_chars: Optional[int] = None, max_tokens: Optional[int] = None, on_problem: Callable[[Problem], None] = lambda p: None,
) -> dict:
    """Rank the pool in `files` and write `output_dir` (replaced as a whole, atomically):
    `ranking.csv`, `summary.json` and the top `top` records as MAE files `<id>.xml`.

    RETURNS (dict): the summary (counts, strategy, weights, top ids, problems).
    RAISES (AnnotateError): a bad strategy or corpus path, nothing to rank, or a doc the scheme
        cannot hold (nothing is written then).
    """
    if top < 0:
        raise AnnotateError(f"--top {top}: must be 0 or more")
    options = {"batch_size": batch_size, "max_chars": max_chars, "max_tokens": max_tokens}
    known = corpus_pmids(corpus)
    pool = score_pool(nlp, files, known, **options)
    for problem in pool.problems:
        on_problem(problem)
    if not pool.scored:
        raise AnnotateError(f"no pool record could be ranked ({len(pool.in_corpus)} in the corpus, {len(pool.problems)} skipped)")
    ranked = rank(pool.scored, strategy, seed)
    chosen = [s.id for s, _ in ranked[:top]]
    docs: Dict[str, Doc] = {}
    wanted = set(chosen)
    keep = lambda record: None if record.id in wanted else "not chosen"  # noqa: E731
    for doc_id, doc, _, reason in annotate_pool(nlp, files, keep, **options):
        if doc is None:
            raise AnnotateError(f"{doc_id}: the pipeline failed on it the second time ({reason})")
        docs[doc_id] = doc
    has_disagreement = all(s.uncertainty.disagreement is not None for s in pool.scored)
    summary = {
        "strategy": strategy, "weights": strategy_weights(strategy, has_disagreement), "seed": seed,
        "ranked": len(ranked), "in_corpus": len(pool.in_corpus), "in_corpus_ids": pool.in_corpus,
        "skipped": [str(p) for p in pool.problems], "top": chosen,
    }
    taken: Set[str] = {RANKING_FILE, SUMMARY_FILE}
    named = [(safe_file_name(doc_id, taken), mae_file_content(docs[doc_id], doc_id, scheme)) for doc_id in chosen]
    named += [(RANKING_FILE, ranking_csv(ranked)), (SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")]
    write_mae_folder(named, output_dir, TOOL)
    return summary

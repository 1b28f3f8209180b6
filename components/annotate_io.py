"""Annotate new abstracts with a trained pipeline: input readers, output writers and the journal
that makes a long run atomic and resumable (the logic behind `scripts/annotate.py`).

Inputs (`read_records`): a `.txt` file (one abstract per line, or the whole file with
`whole_file`), a `.jsonl` file (`{"id": ..., "text": ...}` per line), a PubMed XML file
(`PubmedArticleSet`, streamed), or a folder holding any of these. Readers yield `Record`s and,
for input they cannot use, `Problem`s naming the position (`path:line`, `path: article N`) and
the reason, so one bad record never stops a run.

Outputs (`render_output`): `jsonl` (entities with offsets, values and confidences, statements
with scores), `mae` (a folder of MAE XML files, one per doc), `html` (displaCy plus the
statements) and `spacy` (a DocBin with user data).

Journal: every annotated doc is appended to `OUTPUT.partial.jsonl` as one line
`{"id": ..., "doc": base64(doc.to_bytes())}`. The final output is rendered from it and written
atomically once the input is exhausted, then the journal is deleted; a run that stops early
leaves the journal, which `annotate(..., resume=True)` continues.
"""
import base64
import binascii
import html
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from .atomic import atomic_directory, atomic_text_file, write_bytes_atomic
from .doc_layout import entity_spans, get_link_scores, get_links, spans_overlap
from .mae import mae_to_string
from .mae_doc import doc_to_mae
from .schemes import Scheme, SCHEME_FILES, find_definitions_dir, load_scheme

INPUT_SUFFIXES = (".txt", ".jsonl", ".xml")
FORMATS = ("jsonl", "mae", "html", "spacy")
FORMAT_OF_SUFFIX = {".jsonl": "jsonl", ".html": "html", ".htm": "html", ".spacy": "spacy"}
JOURNAL_SUFFIX = ".partial.jsonl"
# displaCy colours for the fgen categories (V1 uses the same labels).
COLORS = {"PERTURBING_ACTION": "#f4b183", "CONTEXT": "#9dc3e6", "EFFECT": "#c5e0b4", "PHENOTYPE": "#ffe699"}


class AnnotateError(ValueError):
    """Input, output, model or journal that cannot be used; `str()` is one line `path: reason`."""


@dataclass(frozen=True)
class Record:
    """One text to annotate: its id, the text and where it was read (`path:line`, `path: article N`)."""

    id: str
    text: str
    position: str
    pmid: Optional[str] = None


@dataclass(frozen=True)
class Problem:
    """Input that was skipped: where, and why."""

    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.position}: {self.reason}"


Item = Union[Record, Problem]


# ---------------------------------------------------------------- inputs


def input_files(path: Union[str, Path], exclude: Iterable[Path] = ()) -> List[Path]:
    """The files to read: `path` itself, or every file under the folder `path` (recursively,
    sorted, hidden names left out, `exclude` left out: the run's own journal and output).

    RAISES (AnnotateError): when `path` is missing or a file with an unsupported suffix.
    """
    path = Path(path)
    if path.is_dir():
        skip = [Path(p).resolve() for p in exclude]
        files = []
        for p in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
            if p.is_file() and not hidden and not any(_is_within(p.resolve(), e) for e in skip):
                files.append(p)
        return files
    if not path.is_file():
        raise AnnotateError(f"{path}: no such file or folder")
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise AnnotateError(f"{path}: unsupported input (expected {', '.join(INPUT_SUFFIXES)} or a folder)")
    return [path]


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _lines(path: Path) -> Iterator[Tuple[int, bytes]]:
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
    for number, raw in _lines(path):
        try:
            line = raw.decode("utf8")
        except UnicodeDecodeError as err:
            yield Problem(f"{path}:{number}", f"not UTF-8 (byte {err.start})")
            continue
        if line.strip():
            yield Record(f"{path.stem}:{number}", line, f"{path}:{number}")


def _json_record(path: Path, number: int, raw: bytes) -> Optional[Item]:
    position = f"{path}:{number}"
    try:
        obj = json.loads(raw.decode("utf8"))
    except UnicodeDecodeError as err:
        return Problem(position, f"not UTF-8 (byte {err.start})")
    except json.JSONDecodeError as err:
        return Problem(position, f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(obj, dict):
        return Problem(position, f"not a JSON object but {type(obj).__name__}")
    text, doc_id = obj.get("text"), obj.get("id")
    if not isinstance(text, str):
        return Problem(position, 'no string "text"' if text is None else f'"text" is a {type(text).__name__}, not a string')
    if not text.strip():
        return Problem(position, "empty text")
    if doc_id is None:
        doc_id = f"{path.stem}:{number}"  # as for .txt lines
    elif isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        return Problem(position, f'"id" must be a string or an integer, not {json.dumps(doc_id)[:40]}')
    elif not str(doc_id).strip():
        return Problem(position, 'empty "id"')
    return Record(str(doc_id), text, position)


def read_jsonl(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a JSONL file, one `{"id": ..., "text": ...}` per line (blank lines skipped).
    A record without "id" gets `<stem>:<line>`."""
    path = Path(path)
    for number, raw in _lines(path):
        if raw.strip():
            item = _json_record(path, number, raw)
            if item is not None:
                yield item


def _all_text(el: Optional[Element]) -> str:
    # itertext keeps the text inside inline markup (<i>, <sup>, ...).
    return "".join(el.itertext()).strip() if el is not None else ""


def _article_item(el: Element, position: str) -> Item:
    pmid = (el.findtext("MedlineCitation/PMID") or "").strip()
    if not pmid:
        return Problem(position, "no PMID")
    article = el.find("MedlineCitation/Article")
    if article is None:
        return Problem(position, f"PMID {pmid}: no <Article>")
    pieces = [_all_text(article.find("ArticleTitle"))]
    pieces += [_all_text(part) for part in article.findall("Abstract/AbstractText")]
    pieces = [p for p in pieces if p]
    if not pieces:
        return Problem(position, f"PMID {pmid}: no title or abstract text")
    return Record(pmid, "\n".join(pieces), position, pmid=pmid)


def read_pubmed_xml(path: Union[str, Path]) -> Iterator[Item]:
    """Records of a PubMed XML file (`PubmedArticleSet`), streamed: text = ArticleTitle and the
    AbstractText parts, one per line; id = PMID. Parsed with defusedxml; every article is
    cleared once read, so memory stays constant. A syntax error ends the file with a Problem
    (`path:line`); the articles before it are kept."""
    path = Path(path)
    root: Optional[Element] = None
    depth = count = 0
    try:
        with path.open("rb") as handle:
            for event, el in SafeET.iterparse(handle, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if root is None:
                        root = el
                        if el.tag != "PubmedArticleSet":
                            yield Problem(str(path), f"not a PubMed XML file (root element <{el.tag}>)")
                            return
                    continue
                depth -= 1
                if depth == 1:  # a child of the root is complete
                    if el.tag == "PubmedArticle":
                        count += 1
                        yield _article_item(el, f"{path}: article {count}")
                    root.clear()  # drop what was read (root is set: depth 1 comes after its start)
    except ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else "?"
        yield Problem(f"{path}:{line}", f"malformed XML, rest of the file skipped ({err})")
        return
    except DefusedXmlException as err:
        yield Problem(str(path), f"unsafe XML, rest of the file skipped ({type(err).__name__})")


def read_file(path: Path, whole_file: bool = False) -> Iterator[Item]:
    """Records of one input file, by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_txt(path, whole_file=whole_file)
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".xml":
        return read_pubmed_xml(path)
    return iter([Problem(str(path), f"skipped: not a {', '.join(INPUT_SUFFIXES)} file")])


def read_records(files: Sequence[Path], whole_file: bool = False) -> Iterator[Item]:
    """Records of all `files` in order, lazily; a record whose id was already read becomes a
    Problem naming the first position."""
    first_seen: Dict[str, str] = {}
    for path in files:
        try:
            for item in read_file(path, whole_file=whole_file):
                if isinstance(item, Record):
                    if item.id in first_seen:
                        item = Problem(item.position, f"duplicate id {item.id!r} (first at {first_seen[item.id]})")
                    else:
                        first_seen[item.id] = item.position
                yield item
        except OSError as err:
            yield Problem(str(path), f"cannot read ({err.strerror or err})")


# ---------------------------------------------------------------- journal


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


# ---------------------------------------------------------------- outputs


def output_format(output: Union[str, Path], fmt: Optional[str] = None) -> str:
    """The output format: `fmt` when given, else from OUTPUT's suffix (`.jsonl`, `.html`,
    `.spacy`; a folder or no suffix: `mae`).

    RAISES (AnnotateError): for an unknown format or suffix, or OUTPUT of the wrong kind.
    """
    output = Path(output)
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise AnnotateError(f"{output}: unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    elif output.is_dir() or not output.suffix:
        fmt = "mae"
    elif output.suffix.lower() in FORMAT_OF_SUFFIX:
        fmt = FORMAT_OF_SUFFIX[output.suffix.lower()]
    else:
        raise AnnotateError(f"{output}: unsupported output suffix {output.suffix!r} (use .jsonl, .html, .spacy, a folder, or --format)")
    if fmt == "mae" and output.exists() and not output.is_dir():
        raise AnnotateError(f"{output}: exists and is not a folder (MAE output is a folder of files)")
    if fmt != "mae" and output.is_dir():
        raise AnnotateError(f"{output}: is a folder, not a {fmt} file")
    return fmt


def _float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _entity_json(span: Span) -> Dict[str, Any]:
    return {
        "start": span.start_char,
        "end": span.end_char,
        "text": span.text,
        "label": span.label_,
        "value": span.kb_id_,
        "confidence": _float(span._.confidence),
        "value_confidence": _float(span._.value_confidence),
    }


def doc_to_json(doc: Doc, doc_id: str) -> Dict[str, Any]:
    """The JSONL record of an annotated doc: entities (`entity_spans` order, char offsets) and
    statements as {category: entity index} with their score. A statement member that is not
    among the entities (not produced by fgen's components) is appended to the entities."""
    spans = entity_spans(doc)
    index = {(s.start_char, s.end_char, s.label_): i for i, s in enumerate(spans)}
    links = []
    for link, score in zip(get_links(doc), get_link_scores(doc)):
        members = {}
        for role, span in link.items():
            key = (span.start_char, span.end_char, span.label_)
            if key not in index:
                index[key] = len(spans)
                spans.append(span)
            members[role] = index[key]
        links.append({"members": members, "score": _float(score)})
    return {"id": doc_id, "text": doc.text, "entities": [_entity_json(s) for s in spans], "links": links}


def write_jsonl(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write one JSON record per doc (see `doc_to_json`), atomically; returns the number written."""
    count = 0
    with atomic_text_file(path) as handle:
        for doc_id, doc in docs:
            handle.write(json.dumps(doc_to_json(doc, doc_id), ensure_ascii=False) + "\n")
            count += 1
    return count


def write_docbin(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write the docs as a DocBin with user data (links, confidences, provenance), atomically."""
    docbin = DocBin(store_user_data=True)
    for _, doc in docs:
        docbin.add(doc)
    write_bytes_atomic(path, docbin.to_bytes())
    return len(docbin)


def safe_file_name(doc_id: str, taken: Set[str]) -> str:
    """A file name `<id>.xml` made of letters, digits, `.`, `_`, `-` (no leading dot), unique in `taken`."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", doc_id)[:150].lstrip(".") or "doc"
    name, n = f"{stem}.xml", 1
    while name.lower() in taken:  # lower(): case-insensitive file systems
        n += 1
        name = f"{stem}-{n}.xml"
    taken.add(name.lower())
    return name


def write_mae(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path], scheme: Scheme) -> int:
    """Write one MAE XML file per doc (`<safe id>.xml`) into the folder `path`, replaced as a whole.

    RAISES (AnnotateError): when a doc does not fit the scheme (nothing is written then).
    """
    taken: Set[str] = set()
    with atomic_directory(path) as tmp:
        for doc_id, doc in docs:
            try:
                content = mae_to_string(doc_to_mae(doc, scheme), scheme)
            except (KeyError, ValueError) as err:
                reason = err.args[0] if isinstance(err, KeyError) and err.args else err
                raise AnnotateError(f"{doc_id}: cannot be written as MAE with scheme {scheme.name} ({reason})") from err
            (tmp / safe_file_name(doc_id, taken)).write_text(content, encoding="utf8")
    return len(taken)


def _displacy_markup(doc: Doc) -> str:
    # Manual input, so labels and values are escaped here (displaCy escapes only the text), and
    # overlapping spans (V1) go to the "span" style, which can draw them.
    spans = entity_spans(doc)
    options = {"colors": COLORS}
    if spans_overlap(spans):
        parsed = {"text": doc.text, "tokens": [t.text for t in doc], "spans": [
            {"start_token": s.start, "end_token": s.end, "label": html.escape(s.label_), "kb_id": html.escape(s.kb_id_)}
            for s in spans]}
        return displacy.render(parsed, style="span", manual=True, jupyter=False, options=options)
    ents = [{"start": s.start_char, "end": s.end_char, "label": html.escape(s.label_), "kb_id": html.escape(s.kb_id_)}
            for s in sorted(spans, key=lambda s: (s.start_char, s.end_char))]
    return displacy.render({"text": doc.text, "ents": ents}, style="ent", manual=True, jupyter=False, options=options)


def _statements_markup(doc: Doc) -> str:
    items = []
    for link, score in zip(get_links(doc), get_link_scores(doc)):
        members = "; ".join(
            f"{html.escape(role)}: <b>{html.escape(span.text)}</b>" + (f" <i>[{html.escape(span.kb_id_)}]</i>" if span.kb_id_ else "")
            for role, span in link.items()
        )
        shown = "gold" if score is None else f"{score:.2f}"
        items.append(f"<li>{members} <small>(score {shown})</small></li>")
    if not items:
        return "<p><i>No statements.</i></p>"
    return "<ol>" + "".join(items) + "</ol>"


def doc_to_html(doc: Doc, doc_id: str) -> str:
    """The HTML section of one doc: its id, the displaCy entity rendering and its statements."""
    return (
        f'<section class="fgen-doc" style="margin-bottom: 3rem">\n<h2>{html.escape(doc_id)}</h2>\n'
        f"{_displacy_markup(doc)}\n<h3>Statements</h3>\n{_statements_markup(doc)}\n</section>\n"
    )


def write_html(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path], lang: str = "en") -> int:
    """Write one HTML page with a section per doc (see `doc_to_html`), streamed, atomically."""
    head, tail = TPL_PAGE.split("{content}")
    # displaCy's page declares no charset: abstracts are full of Greek letters and symbols.
    head = head.replace("{lang}", html.escape(lang)).replace("{dir}", "ltr")
    head = head.replace("<head>", '<head>\n        <meta charset="utf-8">', 1).replace("<title>displaCy</title>", "<title>fgen annotations</title>")
    count = 0
    with atomic_text_file(path) as handle:
        handle.write(head)
        for doc_id, doc in docs:
            handle.write(doc_to_html(doc, doc_id))
            count += 1
        if not count:
            handle.write("<p><i>No documents.</i></p>")
        handle.write(tail)
    return count


def render_output(journal: Union[str, Path], output: Union[str, Path], fmt: str, vocab: Vocab, scheme: Optional[Scheme] = None) -> int:
    """Write the final output from the journal's docs, atomically; returns the number of docs."""
    docs = read_journal(journal, vocab)
    if fmt == "jsonl":
        return write_jsonl(docs, output)
    if fmt == "spacy":
        return write_docbin(docs, output)
    if fmt == "html":
        return write_html(docs, output, lang=vocab.lang or "en")
    if fmt == "mae":
        if scheme is None:
            raise AnnotateError(f"{output}: MAE output needs a scheme")
        return write_mae(docs, output, scheme)
    raise AnnotateError(f"{output}: unknown format {fmt!r}")


def resolve_scheme(
    name: Optional[str], definitions: Optional[Path] = None, nlp: Optional[Language] = None, search_from: Sequence[Path] = ()
) -> Scheme:
    """The scheme for MAE output: from `definitions`, else the pipeline's `paths.definitions`, else
    the first folder holding its files above `search_from`. The name defaults to the scheme
    `fgen_values` was initialized with, else "v2".

    RAISES (AnnotateError): when no definition files are found.
    """
    config = nlp.config if nlp is not None else {}
    if name is None:
        name = config.get("initialize", {}).get("components", {}).get("fgen_values", {}).get("scheme") or "v2"
    if name.lower() not in SCHEME_FILES:
        raise AnnotateError(f"{name}: unknown scheme (choose {', '.join(SCHEME_FILES)})")
    folder = definitions
    if folder is None:
        trained_with = config.get("paths", {}).get("definitions")
        candidates = [Path(trained_with)] if trained_with else []
        folder = find_definitions_dir([*candidates, *search_from], name)
    if folder is None:
        raise AnnotateError(f"scheme {name}: no definition files found (MAE output needs them): pass --definitions DIR")
    try:
        return load_scheme(Path(folder), name)
    except (FileNotFoundError, ValueError) as err:
        raise AnnotateError(str(err)) from err


# ---------------------------------------------------------------- the run


@dataclass
class Summary:
    """What a run did: docs annotated now and taken from the journal, records skipped, output."""

    annotated: int
    resumed: int
    skipped: int
    written: int
    output: Path
    fmt: str


class Progress:
    """Docs/s on stderr: one line rewritten in place on a terminal, a line every `interval`
    seconds otherwise (logs)."""

    def __init__(self, stream: Optional[IO[str]] = None, interval: Optional[float] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 30.0)
        self.start = self.last = time.monotonic()
        self.shown = False

    def _line(self, done: int) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return f"annotated {done} docs ({done / elapsed:.1f} docs/s)"

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.stream.write(("\r\x1b[K" if self.tty else "") + self._line(done) + ("" if self.tty else "\n"))
            self.stream.flush()
            self.shown = self.tty

    def clear(self) -> None:
        """Clear the in-place line (before other output)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def close(self, done: int) -> None:
        self.clear()
        self.stream.write(self._line(done) + "\n")
        self.stream.flush()


def check_journal(output: Union[str, Path], resume: bool) -> Path:
    """The journal path for `output`; without `resume` it must not exist.

    RAISES (AnnotateError): a journal exists and `resume` is False.
    """
    journal = journal_path(output)
    if journal.exists() and not resume:
        raise AnnotateError(f"{journal}: an unfinished run left this journal; pass --resume to continue it, or delete it to start over")
    return journal


def annotate(
    nlp: Language,
    input_path: Union[str, Path],
    output: Union[str, Path],
    fmt: Optional[str] = None,
    *,
    whole_file: bool = False,
    batch_size: Optional[int] = None,
    n_process: int = 1,
    resume: bool = False,
    scheme: Optional[Scheme] = None,
    on_problem: Optional[Callable[[Problem], None]] = None,
    on_progress: Optional[Callable[[int], None]] = None,
) -> Summary:
    """Annotate every record of `input_path` with `nlp` and write `output`.

    nlp (Language): the pipeline.
    input_path (Path): a .txt, .jsonl or PubMed .xml file, or a folder of them.
    output (Path): the output file or (MAE) folder; written only at the end, atomically.
    fmt (Optional[str]): jsonl, mae, html or spacy (default: from OUTPUT's suffix).
    whole_file (bool): a .txt file is one doc, not one per line.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    n_process (int): nlp.pipe processes.
    resume (bool): continue the journal an interrupted run left.
    scheme (Optional[Scheme]): needed for MAE output.
    on_problem (Callable[[Problem], None]): called for every skipped record or file.
    on_progress (Callable[[int], None]): called with the number of docs annotated so far.
    RETURNS (Summary): counts and where the output went.
    RAISES (AnnotateError): unusable input, output or journal (before anything is annotated), or
        docs that do not fit the MAE scheme (the journal is kept then).
    """
    input_path, output = Path(input_path), Path(output)
    fmt = output_format(output, fmt)
    if fmt == "mae" and scheme is None:
        raise AnnotateError(f"{output}: MAE output needs a scheme")
    journal = check_journal(output, resume)
    if output.resolve() == input_path.resolve():
        raise AnnotateError(f"{output}: the output would replace the input")
    files = input_files(input_path, exclude=[journal, output])
    report = on_problem or (lambda problem: None)
    done: Set[str] = set()
    if journal.exists():
        done, dropped = recover_journal(journal)
        for problem in dropped:
            report(problem)
    counts = {"skipped": 0, "annotated": 0}

    def texts() -> Iterator[Tuple[str, Dict[str, Any]]]:
        for item in read_records(files, whole_file=whole_file):
            if isinstance(item, Record) and len(item.text) > nlp.max_length:
                item = Problem(item.position, f"text of {len(item.text)} characters is longer than nlp.max_length ({nlp.max_length})")
            if isinstance(item, Problem):
                counts["skipped"] += 1
                report(item)
            elif item.id not in done:
                yield item.text, {"id": item.id, "pmid": item.pmid}

    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("ab") as handle:
        for doc, context in nlp.pipe(texts(), as_tuples=True, batch_size=batch_size, n_process=n_process):
            doc._.provenance = {**(doc._.provenance or {}), **{k: v for k, v in context.items() if v is not None}}
            handle.write(journal_line(context["id"], doc))
            handle.flush()  # a line per doc: an interruption loses at most the doc being written
            counts["annotated"] += 1
            if on_progress is not None:
                on_progress(counts["annotated"])
    written = render_output(journal, output, fmt, nlp.vocab, scheme)
    journal.unlink()
    return Summary(counts["annotated"], len(done), counts["skipped"], written, output, fmt)

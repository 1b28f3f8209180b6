"""Writing annotated docs: JSONL, a folder of MAE XML files, HTML (displaCy + statements), DocBin."""
import html
import json
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Set, Tuple, Union

from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from fgen.annotate.inputs import AnnotateError
from fgen.annotate.journal import read_journal
from fgen.util.atomic import atomic_directory, atomic_text_file, write_bytes_atomic
from fgen.doc_layout import entity_spans, get_link_scores, get_links, spans_overlap
from fgen.corpus.mae import mae_to_string
from fgen.corpus.mae_doc import doc_to_mae
from fgen.corpus.schemes import SCHEME_FILES, Scheme, find_definitions_dir, load_scheme

FORMATS = ("jsonl", "mae", "html", "spacy")
FORMAT_OF_SUFFIX = {".jsonl": "jsonl", ".html": "html", ".htm": "html", ".spacy": "spacy"}
# displaCy colours for the fgen categories (V1 uses the same labels).
COLORS = {"PERTURBING_ACTION": "#f4b183", "CONTEXT": "#9dc3e6", "EFFECT": "#c5e0b4", "PHENOTYPE": "#ffe699"}


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

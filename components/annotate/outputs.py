"""Writing annotated docs: JSONL, a folder of MAE XML files, HTML (displaCy + statements), DocBin."""
import html
import json
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence, Set, Tuple, Union

from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from fgen.annotate.inputs import AnnotateError
from fgen.annotate.journal import read_journal
from fgen.annotate.records import doc_record
from fgen.util.atomic import atomic_directory, atomic_text_file, write_bytes_atomic
from fgen.annotate.output_location import foreign_entries, refuse_changed_entries, write_output_marker
from fgen.doc_layout import entity_spans, get_link_scores, get_links, spans_overlap
from fgen.corpus.mae import mae_to_string
from fgen.corpus.mae_doc import doc_to_mae
from fgen.corpus.schemes import SCHEME_FILES, Scheme, find_definitions_dir, load_scheme

FORMATS = ("jsonl", "mae", "html", "spacy")
# The folder of a pipeline that holds its scheme definition files (scripts/package.py adds it).
DEFINITIONS_FOLDER = "definitions"
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


def write_jsonl(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write one JSON record per doc (see `fgen.annotate.records.doc_record`), atomically; returns the number written."""
    count = 0
    with atomic_text_file(path) as handle:
        for doc_id, doc in docs:
            handle.write(json.dumps(doc_record(doc, doc_id), ensure_ascii=False) + "\n")
            count += 1
    return count


def write_docbin(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path]) -> int:
    """Write the docs as a DocBin with user data (links, confidences, provenance), atomically."""
    docbin = DocBin(store_user_data=True)
    for _, doc in docs:
        docbin.add(doc)
    write_bytes_atomic(path, docbin.to_bytes())
    return len(docbin)


def safe_file_name(doc_id: Union[str, int], taken: Set[str]) -> str:
    """A file name `<id>.xml` made of letters, digits, `.`, `_`, `-` (no leading dot), unique in
    `taken`; an id that ends in `.xml` already (a MAE file's name) keeps its one suffix."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(doc_id))[:150].lstrip(".")
    stem = (stem[:-4] if stem.lower().endswith(".xml") else stem) or "doc"
    name, n = f"{stem}.xml", 1
    while name.lower() in taken:  # lower(): case-insensitive file systems
        n += 1
        name = f"{stem}-{n}.xml"
    taken.add(name.lower())
    return name


# Characters XML 1.0 cannot carry at all, not even as references (PDF-to-text leaves them):
# written as spaces, so every offset stays right.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe_mae(content: str) -> str:
    """A MAE file's XML that reads back with the same text length and offsets: characters XML
    cannot carry become spaces, and a carriage return leaves the CDATA section as `&#13;`
    (XML parsers turn a literal CR LF into LF, which would shift every later span). Attribute
    values carry no literal CR: `fgen.corpus.mae` writes it as a reference there."""
    content = _NOT_XML.sub(" ", content)
    return content.replace("\r", "]]>&#13;<![CDATA[")


def mae_file_content(doc: Doc, doc_id: Union[str, int], scheme: Scheme) -> str:
    """The MAE XML of one doc (see `xml_safe_mae`).

    RAISES (AnnotateError): the doc does not fit the scheme.
    """
    try:
        return xml_safe_mae(mae_to_string(doc_to_mae(doc, scheme), scheme))
    except (KeyError, ValueError) as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise AnnotateError(f"{doc_id}: cannot be written as MAE with scheme {scheme.name} ({reason})") from err


def write_mae_folder(named_contents: Iterable[Tuple[str, str]], path: Union[str, Path], tool: str) -> int:
    """Write (file name, XML) pairs as the folder `path`, replaced as a whole, with the marker
    that lets a later run of `tool` replace it again.

    RAISES (AnnotateError): the folder holds files fgen did not write, or files changed since
        fgen wrote them (corrections: nothing is written then); two files would get the same name.
    """
    path = Path(path)
    if path.is_dir():
        foreign = foreign_entries(path)
        if foreign:
            raise AnnotateError(f"{path}: the folder holds files fgen did not write ({', '.join(foreign[:3])}); nothing was written")
        refuse_changed_entries(path)
    names: Set[str] = set()
    with atomic_directory(path) as tmp:
        for name, content in named_contents:
            if name.lower() in names:
                raise AnnotateError(f"{path}: two docs would both be written as {name}")
            names.add(name.lower())
            (tmp / name).write_text(content, encoding="utf8", newline="")
        write_output_marker(tmp, tool, [p.name for p in tmp.iterdir()])
    return len(names)


def write_mae(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path], scheme: Scheme) -> int:
    """Write one MAE XML file per doc (`<safe id>.xml`) into the folder `path`, replaced as a
    whole (see `write_mae_folder`).

    RAISES (AnnotateError): when a doc does not fit the scheme (nothing is written then).
    """
    taken: Set[str] = set()
    named = ((safe_file_name(doc_id, taken), mae_file_content(doc, doc_id, scheme)) for doc_id, doc in docs)
    return write_mae_folder(named, path, "fgen annotate")


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


def doc_to_html(doc: Doc, doc_id: Union[str, int]) -> str:
    """The HTML section of one doc: its id, the displaCy entity rendering and its statements."""
    return (
        f'<section class="fgen-doc" style="margin-bottom: 3rem">\n<h2>{html.escape(str(doc_id))}</h2>\n'
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
    """The scheme for MAE output: from `definitions`, else the pipeline's own `DEFINITIONS_FOLDER`
    (a packaged pipeline ships it), else its `paths.definitions`, else the first folder holding
    its files above `search_from`. The name defaults to the scheme
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
        if nlp is not None and nlp.path is not None:  # shipped with a packaged pipeline
            candidates.insert(0, Path(nlp.path) / DEFINITIONS_FOLDER)
        folder = find_definitions_dir([*candidates, *search_from], name)
    if folder is None:
        raise AnnotateError(f"scheme {name}: no definition files found (MAE output needs them): pass --definitions DIR")
    try:
        return load_scheme(Path(folder), name)
    except (FileNotFoundError, ValueError) as err:
        raise AnnotateError(str(err)) from err

"""HTML output: one page, a section per doc with displaCy's entity rendering and its statements."""
import html
from pathlib import Path
from typing import Iterable, Tuple, Union

from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
from spacy.tokens import Doc

from fgen.doc_layout import entity_spans, get_link_scores, get_links, spans_overlap
from fgen.util.atomic import atomic_text_file

# displaCy colours for the fgen categories (V1 uses the same labels).
COLORS = {"PERTURBING_ACTION": "#f4b183", "CONTEXT": "#9dc3e6", "EFFECT": "#c5e0b4", "PHENOTYPE": "#ffe699"}


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

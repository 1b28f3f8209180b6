"""MAE document <-> spaCy Doc, both ways, exactly (offsets, categories, values, links), and the
MAE XML of an annotated doc as annotate writes it (`mae_file_content`, `safe_file_name`)."""
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span

from fgen.doc_layout import SPAN_KEY, get_links, set_links, spans_overlap
from fgen.formats.mae import DEFAULT_ROOT_TAG, MaeDocument, MaeEntity, MaeLink, mae_to_string
from fgen.formats.records import FormatError
from fgen.corpus.schemes import Scheme
from fgen.corpus.tokenizer import tokenize_at_boundaries


@dataclass
class SpanIssue:
    """A span whose boundary the tokenizer rules alone did not produce."""

    entity_id: str
    label: str
    start: int
    end: int
    kind: str  # "whitespace edge", "inside a word" or "tokenizer"
    context: str


@dataclass
class DocConversion:
    doc: Doc
    forced_spans: List[SpanIssue] = field(default_factory=list)


def _classify(text: str, start: int, end: int, bad_start: bool, bad_end: bool) -> Optional[str]:
    if not (bad_start or bad_end):
        return None
    piece = text[start:end]
    if piece[:1].isspace() or piece[-1:].isspace():
        return "whitespace edge"
    if (bad_start and start > 0 and text[start - 1].isalnum() and piece[:1].isalnum()) or (
        bad_end and end < len(text) and text[end].isalnum() and piece[-1:].isalnum()
    ):
        return "inside a word"
    return "tokenizer"


def mae_to_doc(nlp: Language, record: MaeDocument, scheme: Scheme, provenance: Dict) -> DocConversion:
    """Build the Doc for one MAE document.

    nlp (Language): supplies the tokenizer (use `fgen.corpus.tokenizer.make_nlp()`).
    record (MaeDocument): parsed and validated MAE content.
    scheme (Scheme): the scheme the record was validated against.
    provenance (dict): stored as `doc._.provenance` (plus `root_tag`).
    RETURNS (DocConversion): the Doc and the spans that needed a forced token split.
    """
    starts = {s for ent in record.entities for s, _ in ent.fragments}
    ends = {e for ent in record.entities for _, e in ent.fragments}
    doc, bad_starts, bad_ends = tokenize_at_boundaries(nlp, record.text, starts, ends)
    spans: List[Span] = []
    first_fragment: Dict[str, Span] = {}
    issues = []
    for ent in record.entities:
        kb_id = scheme.category(ent.label).join_values(ent.values)
        for start, end in ent.fragments:
            span = doc.char_span(start, end, label=ent.label, kb_id=kb_id, span_id=ent.id)
            if span is None:  # cannot happen: tokenize_at_boundaries split at every offset
                raise RuntimeError(f"{ent.label} {ent.id} {start}~{end} is not on token boundaries")
            spans.append(span)
            first_fragment.setdefault(ent.id, span)
            kind = _classify(record.text, start, end, start in bad_starts, end in bad_ends)
            if kind:
                context = record.text[max(0, start - 15) : start] + "[" + record.text[start:end] + "]" + record.text[end : end + 15]
                issues.append(SpanIssue(ent.id, ent.label, start, end, kind, context.replace("\n", " ")))
    doc.spans[SPAN_KEY] = spans
    if not spans_overlap(spans):
        doc.ents = spans  # every other token is "outside": the abstract was fully annotated
    set_links(doc, [{label: first_fragment[eid] for label, eid in link.members.items()} for link in record.links])
    doc._.provenance = {**provenance, "root_tag": record.root_tag}
    return DocConversion(doc, issues)


def _assign_ids(spans: List[Span], scheme: Scheme) -> List[Tuple[str, Span]]:
    """Entity id per span: `span.id_` when set (shared by fragments), otherwise a fresh MAE-style id."""
    taken = {s.id_ for s in spans if s.id_}
    counters: Dict[str, int] = defaultdict(int)
    assigned = []
    for span in spans:
        ent_id = span.id_
        if not ent_id:
            prefix = scheme.category(span.label_).id_prefix
            while f"{prefix}{counters[prefix]}" in taken:
                counters[prefix] += 1
            ent_id = f"{prefix}{counters[prefix]}"
            taken.add(ent_id)
        assigned.append((ent_id, span))
    return assigned


def doc_to_mae(doc: Doc, scheme: Scheme) -> MaeDocument:
    """The MAE document for a Doc: entities from `doc.spans["fgen"]` (else `doc.ents`), links from `doc._.links`.

    Spans without an id (model predictions) get fresh ids; spans sharing an id are written as
    one discontinuous entity. Values come from `span.kb_id_` (empty when not predicted).
    """
    spans = list(doc.spans[SPAN_KEY]) if SPAN_KEY in doc.spans else list(doc.ents)
    entities: Dict[str, MaeEntity] = {}
    id_of_span: Dict[Tuple[int, int, str], str] = {}
    for ent_id, span in _assign_ids(spans, scheme):
        cat = scheme.category(span.label_)
        values = cat.split_values(span.kb_id_) if span.kb_id_ else {f.name: "" for f in cat.fields}
        if ent_id not in entities:
            entities[ent_id] = MaeEntity(ent_id, span.label_, [], values)
        entities[ent_id].fragments.append((span.start_char, span.end_char))
        id_of_span.setdefault((span.start_char, span.end_char, span.label_), ent_id)
    links = []
    for i, link in enumerate(get_links(doc)):
        members = {}
        for role, span in link.items():
            ent_id = span.id_ if span.id_ in entities else id_of_span.get((span.start_char, span.end_char, span.label_))
            if ent_id is None:
                raise ValueError(f"link {i}: {role} {span.text!r} is not one of the doc's entities")
            members[role] = ent_id
        links.append(MaeLink(f"EN{i}", members))
    provenance = doc._.provenance or {}
    return MaeDocument(doc.text, list(entities.values()), links, provenance.get("root_tag", DEFAULT_ROOT_TAG))


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
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe_mae(content: str) -> str:
    """A MAE file's XML that reads back with the same text length and offsets: characters XML
    cannot carry become spaces, and a carriage return leaves the CDATA section as `&#13;`
    (XML parsers turn a literal CR LF into LF, which would shift every later span). Attribute
    values carry no literal CR: `fgen.formats.mae` writes it as a reference there."""
    content = NOT_XML.sub(" ", content)
    return content.replace("\r", "]]>&#13;<![CDATA[")


def mae_file_content(doc: Doc, doc_id: Union[str, int], scheme: Scheme) -> str:
    """The MAE XML of one doc (see `xml_safe_mae`).

    RAISES (FormatError): the doc does not fit the scheme.
    """
    try:
        return xml_safe_mae(mae_to_string(doc_to_mae(doc, scheme), scheme))
    except (KeyError, ValueError) as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise FormatError(f"{doc_id}: cannot be written as MAE with scheme {scheme.name} ({reason})") from err

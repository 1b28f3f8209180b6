"""Read and write MAE annotation files (XML with a CDATA TEXT and a TAGS list), safely.

Parsing goes through defusedxml: entity declarations ("billion laughs") and external
entities are refused. Every problem is raised as `MaeError` naming the file and the reason.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fgen.corpus.schemes import Scheme

DEFAULT_ROOT_TAG = "Genomics_ConceptTask"
FRAGMENT_JOINER = " ... "  # how MAE writes the text of a discontinuous entity
_SPAN_RE = re.compile(r"^\s*(\d+)\s*~\s*(\d+)\s*$")
_DECLARED_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class MaeError(ValueError):
    """A MAE file that cannot be read; `str()` is one line: `PATH: reason`."""

    def __init__(self, path: Union[str, Path], reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


Fragment = Tuple[int, int]


@dataclass
class MaeEntity:
    """One entity tag: `fragments` are (start, end) character offsets, several when discontinuous."""

    id: str
    label: str
    fragments: List[Fragment]
    values: Dict[str, str]

    def text_in(self, text: str) -> str:
        """The `text` attribute MAE writes for this entity (newlines shown as spaces)."""
        return FRAGMENT_JOINER.join(text[s:e] for s, e in self.fragments).replace("\n", " ")


@dataclass
class MaeLink:
    """One link tag: category label -> entity id (one entity per role)."""

    id: str
    members: Dict[str, str]


@dataclass
class MaeDocument:
    """The content of one MAE file."""

    text: str
    entities: List[MaeEntity] = field(default_factory=list)
    links: List[MaeLink] = field(default_factory=list)
    root_tag: str = DEFAULT_ROOT_TAG
    # Readable but suspicious content (kept as annotated, listed in conversion reports).
    warnings: List[str] = field(default_factory=list)


def parse_spans(value: str) -> List[Fragment]:
    """Parse a MAE `spans` attribute: `a~b` or, for discontinuous entities, `a~b,c~d`."""
    fragments = []
    for part in value.split(","):
        match = _SPAN_RE.match(part)
        if not match:
            raise ValueError(f"cannot parse spans={value!r} (expected start~end[,start~end...])")
        fragments.append((int(match.group(1)), int(match.group(2))))
    return fragments


def format_spans(fragments: List[Fragment]) -> str:
    return ",".join(f"{s}~{e}" for s, e in fragments)


def _decode_check(path: Path, data: bytes) -> None:
    if not data.strip():
        raise MaeError(path, "empty file")
    declared = _DECLARED_ENCODING_RE.match(data)
    encoding = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    if encoding.replace("-", "").replace("_", "") in ("utf8",):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MaeError(path, f"not valid UTF-8: byte 0x{data[err.start]:02x} at offset {err.start}") from None


def _parse_xml(path: Path, data: bytes) -> Element:
    _decode_check(path, data)
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise MaeError(path, f"refused unsafe XML ({type(err).__name__}: entity declarations and external references are not allowed)") from None
    except ParseError as err:
        raise MaeError(path, f"malformed XML: {err}") from None


def _entity_from_element(path: Path, el: Element, scheme: Scheme, text: str) -> MaeEntity:
    ent_id = el.get("id")
    if not ent_id:
        raise MaeError(path, f"<{el.tag}> without an id")
    where = f"{el.tag} {ent_id}"
    cat = scheme.category(el.tag)
    raw = el.get("spans")
    if raw is None or not raw.strip():
        raise MaeError(path, f"{where}: missing spans")
    try:
        fragments = parse_spans(raw)
    except ValueError as err:
        raise MaeError(path, f"{where}: {err}") from None
    previous_end = -1
    for start, end in fragments:
        if not 0 <= start < end <= len(text):
            raise MaeError(path, f"{where}: span {start}~{end} is empty or outside the text (length {len(text)})")
        if start < previous_end:
            raise MaeError(path, f"{where}: fragments of spans={raw!r} overlap or are out of order")
        previous_end = end
    values = {}
    for vfield in cat.fields:
        value = el.get(vfield.mae_attr)
        if value is None:
            raise MaeError(path, f"{where}: missing value attribute {vfield.mae_attr!r}")
        if vfield.values and value not in vfield.values:
            raise MaeError(path, f"{where}: {vfield.mae_attr}={value!r} is not in the {scheme.name} value list for {vfield.name}")
        values[vfield.name] = value
    entity = MaeEntity(ent_id, el.tag, fragments, values)
    claimed = el.get("text")
    # MAE's text attribute is redundant; a mismatch means the offsets point at the wrong text.
    if claimed is not None and " ".join(claimed.split()) != " ".join(entity.text_in(text).split()):
        raise MaeError(path, f"{where}: text={claimed!r} does not match the text at spans={raw!r} ({entity.text_in(text)!r})")
    return entity


def _link_from_element(
    path: Path, el: Element, scheme: Scheme, entities: Dict[str, MaeEntity], warnings: List[str]
) -> MaeLink:
    link_id = el.get("id")
    if not link_id:
        raise MaeError(path, f"<{el.tag}> without an id")
    members = {}
    for attr, cat in scheme.role_of_link_attr().items():
        target = el.get(attr)
        if not target:
            continue  # MAE writes partially filled links with empty roles
        if target not in entities:
            raise MaeError(path, f"{el.tag} {link_id}: {attr}={target!r} names no entity in this file")
        if entities[target].label != cat.label:
            # Upstream V1 has a few of these slips; keep them so the round trip stays exact.
            warnings.append(f"{el.tag} {link_id}: {attr}={target!r} is a {entities[target].label}, not a {cat.label}")
        members[cat.label] = target
    if not members:
        raise MaeError(path, f"{el.tag} {link_id}: names no entity")
    return MaeLink(link_id, members)


def read_mae(path: Union[str, Path], scheme: Scheme, data: Optional[bytes] = None) -> MaeDocument:
    """Read and validate one MAE file against a scheme.

    path (Path): the file (named in every error).
    scheme (Scheme): categories, value lists and link roles to validate against.
    data (bytes): the file content, when already read.
    RETURNS (MaeDocument): text, entities and links exactly as annotated.
    RAISES (MaeError): for any unreadable, unsafe or inconsistent input.
    """
    path = Path(path)
    if data is None:
        data = path.read_bytes()
    root = _parse_xml(path, data)
    text_el = root.find("TEXT")
    if text_el is None:
        raise MaeError(path, "no <TEXT> element")
    tags_el = root.find("TAGS")
    if tags_el is None:
        raise MaeError(path, "no <TAGS> element")
    text = text_el.text or ""
    known = set(scheme.labels) | {scheme.link_tag}
    entities: Dict[str, MaeEntity] = {}
    link_elements = []
    seen_ids = set()
    for el in tags_el:
        if el.tag not in known:
            raise MaeError(path, f"unknown tag <{el.tag}> (scheme {scheme.name} has {', '.join(sorted(known))})")
        tag_id = el.get("id")
        if tag_id in seen_ids:
            raise MaeError(path, f"duplicate id {tag_id!r}")
        seen_ids.add(tag_id)
        if el.tag == scheme.link_tag:
            link_elements.append(el)
        else:
            entity = _entity_from_element(path, el, scheme, text)
            entities[entity.id] = entity
    warnings: List[str] = []
    links = [_link_from_element(path, el, scheme, entities, warnings) for el in link_elements]
    return MaeDocument(text, list(entities.values()), links, root.tag, warnings)


def _cdata(text: str) -> str:
    # "]]>" cannot occur inside one CDATA section: split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _tag(name: str, attrs: List[Tuple[str, str]]) -> str:
    return "<" + name + "".join(f' {key}="{_attr(val)}"' for key, val in attrs) + " />"


def mae_to_string(record: MaeDocument, scheme: Scheme) -> str:
    """Serialize a MaeDocument as MAE writes it (entities by category, then links)."""
    by_id = {ent.id: ent for ent in record.entities}
    lines = ['<?xml version="1.0" encoding="UTF-8" ?>', "", f"<{record.root_tag}>"]
    lines.append(f"<TEXT>{_cdata(record.text)}</TEXT>")
    lines.append("<TAGS>")
    for cat in scheme.categories:
        for ent in (e for e in record.entities if e.label == cat.label):
            attrs = [("id", ent.id), ("spans", format_spans(ent.fragments)), ("text", ent.text_in(record.text))]
            attrs += [(f.mae_attr, ent.values.get(f.name, "")) for f in cat.fields]
            lines.append(_tag(cat.label, attrs))
    for link in record.links:
        attrs = [("id", link.id)]
        for cat in scheme.categories:
            target = link.members.get(cat.label)
            attrs.append((cat.link_id_attr, target or ""))
            attrs.append((cat.link_text_attr, by_id[target].text_in(record.text) if target else ""))
        lines.append(_tag(scheme.link_tag, attrs))
    lines += ["</TAGS>", f"</{record.root_tag}>", ""]
    return "\n".join(lines)

"""Corpus statistics over Docs in fgen's layout (see doc_layout.py): pure functions, no plotting.

Conventions:
- words: non-whitespace tokens of fgen's tokenizer (the Doc's own tokens).
- entity: the spans of `doc.spans["fgen"]` sharing a category and `span.id_` (the fragments of
  one discontinuous V1 entity); a span without an id (a prediction) is an entity on its own.
  Its length is the number of words over all its fragments, its value the `kb_id_`.
- sentences: spaCy's rule-based `sentencizer` (a break after . ! ? and similar) run on a copy
  of the Doc, plus a break after every blank line, since the title is separated from the
  abstract by one and does not always end in a full stop.
- link statistics only count docs whose provenance says links were annotated: elsewhere a
  missing link means nothing.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span

from fgen.doc_layout import SPAN_KEY, get_links, links_annotated
from fgen.corpus.schemes import VALUE_SEPARATOR

MAX_WORDPIECES = 512  # positions of a BERT-style encoder, [CLS] and [SEP] included
EntityKey = Tuple[Any, ...]


def count_words(doc: Doc) -> int:
    """Number of non-whitespace tokens in `doc`."""
    return sum(not token.is_space for token in doc)


def count_wordpieces(docs: Sequence[Doc], tokenizer: Any) -> List[int]:
    """Wordpieces per doc, special tokens included, without truncation.

    docs (Sequence[Doc]): the documents.
    tokenizer: a Hugging Face tokenizer (e.g. from `load_tokenizer`).
    RETURNS (List[int]): one count per doc.
    """
    if not docs:
        return []
    # verbose=False: long abstracts are what we are counting, not something to warn about.
    encoded = tokenizer([doc.text for doc in docs], add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def load_tokenizer(name: str) -> Any:
    """A Hugging Face tokenizer for an encoder name (see `fgen.pipeline.layers.encoders.resolve_encoder`).

    name (str): "fgen-default", a Hugging Face model name or a local folder.
    RETURNS: the tokenizer (transformers is imported only here).
    """
    from transformers import AutoTokenizer

    from fgen.pipeline.layers.encoders import resolve_encoder

    return AutoTokenizer.from_pretrained(resolve_encoder(name))


def count_over(lengths: Iterable[int], limit: int = MAX_WORDPIECES) -> int:
    """How many of `lengths` exceed `limit`."""
    return sum(n > limit for n in lengths)


def sentence_lengths(doc: Doc) -> List[int]:
    """Words per sentence of `doc` (see the module docstring); `doc` itself is not changed."""
    copy = Sentencizer()(doc.copy())
    for token in copy[1:]:
        if copy[token.i - 1].is_space and "\n\n" in copy[token.i - 1].text:
            token.is_sent_start = True
    lengths = [count_words(sent) for sent in copy.sents]
    return [n for n in lengths if n > 0]  # a "sentence" of line breaks only is no sentence


def _entity_key(span: Span) -> EntityKey:
    return (span.label_, span.id_) if span.id_ else (span.label_, span.start_char, span.end_char)


def get_entities(doc: Doc) -> List[List[Span]]:
    """Entities of `doc` as lists of fragments, in order of their first fragment."""
    groups: Dict[EntityKey, List[Span]] = {}
    for span in doc.spans[SPAN_KEY] if SPAN_KEY in doc.spans else doc.ents:
        groups.setdefault(_entity_key(span), []).append(span)
    return list(groups.values())


def value_parts(kb_id: str) -> List[str]:
    """The value fields of one entity, in scheme field order (V1 joins two with '|')."""
    return kb_id.split(VALUE_SEPARATOR)


@dataclass
class CorpusStats:
    """Everything the corpus report shows, for one list of Docs."""

    n_docs: int = 0
    words: List[int] = field(default_factory=list)  # per doc
    wordpieces: Optional[List[int]] = None  # per doc; None without a tokenizer
    sentence_lengths: List[int] = field(default_factory=list)  # words per sentence
    spans: Counter = field(default_factory=Counter)  # category -> spans (fragments)
    entities: Counter = field(default_factory=Counter)  # category -> entities
    discontinuous: Counter = field(default_factory=Counter)  # category -> entities of 2+ fragments
    values: Counter = field(default_factory=Counter)  # (category, kb_id) -> entities
    field_values: Counter = field(default_factory=Counter)  # (category, field index, value) -> entities
    entity_lengths: Dict[str, List[int]] = field(default_factory=dict)  # category -> words per entity
    docs_links_annotated: Counter = field(default_factory=Counter)  # True/False -> docs
    links_per_doc: List[int] = field(default_factory=list)  # link-annotated docs only
    role_coverage: Counter = field(default_factory=Counter)  # category -> links with that role filled
    role_mismatches: Counter = field(default_factory=Counter)  # role -> links whose member there has another category
    linked_doc_entities: Counter = field(default_factory=Counter)  # category -> entities in link-annotated docs
    unlinked_entities: Counter = field(default_factory=Counter)  # category -> of those, in no link
    docs_without_entities: int = 0
    docs_with_overlaps: int = 0  # spans overlap, so `doc.ents` is empty
    folders: Dict[str, Counter] = field(default_factory=dict)  # folder -> docs / no entities / links annotated

    @property
    def n_links(self) -> int:
        return sum(self.links_per_doc)

    @property
    def docs_over_limit(self) -> Optional[int]:
        return None if self.wordpieces is None else count_over(self.wordpieces)


def add_doc(stats: CorpusStats, doc: Doc) -> None:
    """Add the counts of one doc (everything but wordpieces) to `stats` in place."""
    stats.n_docs += 1
    stats.words.append(count_words(doc))
    stats.sentence_lengths.extend(sentence_lengths(doc))
    entities = get_entities(doc)
    for fragments in entities:
        label = fragments[0].label_
        stats.spans[label] += len(fragments)
        stats.entities[label] += 1
        stats.discontinuous[label] += len(fragments) > 1
        stats.values[(label, fragments[0].kb_id_)] += 1
        for i, value in enumerate(value_parts(fragments[0].kb_id_)):
            stats.field_values[(label, i, value)] += 1
        stats.entity_lengths.setdefault(label, []).append(sum(count_words(f) for f in fragments))
    spans = [f for fragments in entities for f in fragments]
    stats.docs_without_entities += not entities
    stats.docs_with_overlaps += bool(spans) and not doc.ents
    annotated = links_annotated(doc)
    stats.docs_links_annotated[annotated] += 1
    folder = (doc._.provenance or {}).get("folder") or "(unknown)"
    per_folder = stats.folders.setdefault(folder, Counter())
    per_folder.update(docs=1, no_entities=int(not entities), links_annotated=int(annotated))
    if not annotated:
        return
    links = get_links(doc)
    stats.links_per_doc.append(len(links))
    linked = set()
    for link in links:
        stats.role_coverage.update(link.keys())
        stats.role_mismatches.update(role for role, span in link.items() if span.label_ != role)
        linked.update(_entity_key(span) for span in link.values())
    for fragments in entities:
        label = fragments[0].label_
        stats.linked_doc_entities[label] += 1
        stats.unlinked_entities[label] += _entity_key(fragments[0]) not in linked


def compute_stats(docs: Sequence[Doc], tokenizer: Optional[Any] = None) -> CorpusStats:
    """All corpus statistics for `docs`.

    docs (Sequence[Doc]): Docs in fgen's layout (after `import fgen`).
    tokenizer (Optional): a Hugging Face tokenizer for wordpiece counts; None skips them.
    RETURNS (CorpusStats): the statistics.
    """
    stats = CorpusStats()
    for doc in docs:
        add_doc(stats, doc)
    if tokenizer is not None:
        stats.wordpieces = count_wordpieces(docs, tokenizer)
    return stats

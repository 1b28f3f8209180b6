"""fgen's tokenizer rules and gold-boundary tokenization.

The rules are spaCy's English tokenizer plus a few splits that annotated spans need in
biomedical text ("(DEN)-induced", "and/or", "MCF-10A."). They are applied to `nlp.tokenizer`
by a registered callback, so they are used in training (`[initialize.before_init]`) and saved
with the pipeline: a loaded pipeline tokenizes like the converter did.
"""
import re
from typing import Callable, Iterable, List, Set, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

EXTRA_PREFIXES = [
    r"[-\u2013](?=[A-Za-z])",  # " -induced" after a spaced-out mutation name
]
EXTRA_INFIXES = [
    r"(?<=[A-Za-z0-9])[)\]}](?=[-\u2013])",  # "(DEN)-induced": the bracket ...
    r"(?<=[)\]}])[-\u2013](?=[A-Za-z0-9])",  # ... and the hyphen after it
]
EXTRA_SUFFIXES = [
    r"(?<=[0-9])\.",  # "MCF-10A." / "U251." at a sentence end
    r"(?<=[0-9][A-Za-z])\.",
]
# Special cases of the English tokenizer that glue together words annotators split.
REMOVED_SPECIAL_CASES = ["and/or"]


def customize_tokenizer(nlp: Language) -> Language:
    """Apply fgen's tokenizer rules to `nlp.tokenizer` in place and return `nlp`."""
    tokenizer = nlp.tokenizer
    prefixes = list(nlp.Defaults.prefixes or []) + EXTRA_PREFIXES
    infixes = list(nlp.Defaults.infixes or []) + EXTRA_INFIXES
    suffixes = list(nlp.Defaults.suffixes or []) + EXTRA_SUFFIXES
    tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    tokenizer.rules = {k: v for k, v in tokenizer.rules.items() if k not in REMOVED_SPECIAL_CASES}
    return nlp


@spacy.registry.callbacks("fgen.customize_tokenizer.v1")
def create_tokenizer_customizer() -> Callable[[Language], Language]:
    """Callback for `[initialize.before_init]` that applies fgen's tokenizer rules."""
    return customize_tokenizer


def make_nlp(lang: str = "en") -> Language:
    """A blank pipeline with fgen's tokenizer: what the converter tokenizes with."""
    return customize_tokenizer(spacy.blank(lang))


# spaCy's tokenizer strips prefixes and suffixes off a space-free chunk one at a time, copying
# the rest each time: quadratic in the chunk's length (e.g. a long run of "(").
MAX_CHUNK = 500  # longer space-free chunks are cut into pieces of this many characters
SEGMENT = 4096  # characters tokenized at once when a text has to be cut


def long_chunk(text: str, max_chunk: int = MAX_CHUNK) -> bool:
    """Whether `text` holds a space-free chunk longer than `max_chunk` characters."""
    return re.search(f"[^ ]{{{max_chunk + 1},}}", text) is not None


def _cut_points(text: str, max_chunk: int, segment: int) -> List[int]:
    # Cut at a single space between two non-space characters (the tokenizer splits there too,
    # and the space stays the whitespace of the token before it), and inside overlong chunks.
    cuts, last = [], 0
    for match in re.finditer(r"[^ ]+", text):
        start, end = match.span()
        if start - last >= segment and start >= 2 and text[start - 1] == " " and not text[start - 2].isspace() and not text[start].isspace():
            cuts.append(start)
            last = start
        for cut in range(start + max_chunk, end, max_chunk):
            cuts.append(cut)
            last = cut
    return cuts


def make_doc_bounded(nlp: Language, text: str, max_chunk: int = MAX_CHUNK, segment: int = SEGMENT) -> Doc:
    """`nlp.make_doc(text)` in time linear in the text: a space-free chunk longer than
    `max_chunk` characters is cut into pieces of `max_chunk` (tokens never cross a cut), the
    rest is tokenized as by `nlp.make_doc`. The Doc's text is `text`, so offsets are exact.

    nlp (Language): the pipeline whose tokenizer is used.
    text (str): the text.
    max_chunk (int): the longest space-free chunk tokenized whole.
    segment (int): about how many characters are tokenized at once.
    RETURNS (Doc): the tokenized text.
    """
    if not long_chunk(text, max_chunk):
        return nlp.make_doc(text)
    points = [0, *_cut_points(text, max_chunk, segment), len(text)]
    docs = [nlp.make_doc(text[a:b]) for a, b in zip(points, points[1:]) if b > a]
    doc = Doc.from_docs(docs, ensure_whitespace=False)
    assert doc.text == text, "bounded tokenization changed the text"
    return doc


def _pieces(region: str, offset: int, cuts: Iterable[int]) -> List[str]:
    points = [0, *sorted(c - offset for c in cuts), len(region)]
    return [region[a:b] for a, b in zip(points, points[1:]) if b > a]


def tokenize_at_boundaries(
    nlp: Language, text: str, starts: Set[int], ends: Set[int]
) -> Tuple[Doc, Set[int], Set[int]]:
    """Tokenize `text` so every offset in `starts` begins a token and every one in `ends` ends one.

    The tokenizer's own boundaries are kept; where a required boundary falls inside a token
    (an annotation slip such as a span starting on a space or inside a word) that token is
    split there. Returns the Doc (its text is `text`, unchanged) and the starts and ends that
    the tokenizer alone did not produce.
    """
    doc = nlp.make_doc(text)
    unaligned_starts = starts - {t.idx for t in doc}
    unaligned_ends = ends - {t.idx + len(t.text) for t in doc}
    words: List[str] = []
    spaces: List[bool] = []
    forced: Set[int] = set()
    for token in doc:
        word_end = token.idx + len(token.text)
        region_end = word_end + len(token.whitespace_)
        cuts = {s for s in starts if token.idx < s < region_end}
        cuts |= {e for e in ends if token.idx < e < region_end and e != word_end}
        if token.whitespace_ and region_end in ends:
            cuts.add(word_end)  # a span ending after the space needs the space as its own token
        forced |= cuts
        pieces = _pieces(text[token.idx : region_end], token.idx, cuts)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if last and token.whitespace_ and word_end not in cuts:
                words.append(piece[: -len(token.whitespace_)])
                spaces.append(True)
            else:
                words.append(piece)
                spaces.append(False)
    if not forced:
        return doc, unaligned_starts, unaligned_ends
    new_doc = Doc(nlp.vocab, words=words, spaces=spaces)
    assert new_doc.text == text, "forced tokenization changed the text"
    return new_doc, unaligned_starts, unaligned_ends

"""fgen's tokenizer rules and gold-boundary tokenization.

The rules are spaCy's English tokenizer plus a few splits that annotated spans need in
biomedical text ("(DEN)-induced", "and/or", "MCF-10A."). They are applied to `nlp.tokenizer`
by a registered callback, so they are used in training (`[initialize.before_init]`) and saved
with the pipeline: a loaded pipeline tokenizes like the converter did.
"""
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

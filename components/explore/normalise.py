"""Normalisation of statement members for grouping across abstracts, and the target of a
perturbation (its gene or agent words). docs/explore.md lists the rules with examples."""
import re
import unicodedata
from typing import List

# Greek letters are written both ways in abstracts ("TNF-α", "TNF-alpha").
_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "κ": "kappa",
    "λ": "lambda", "μ": "mu", "σ": "sigma", "τ": "tau", "ω": "omega", "Δ": "delta",
}
_GREEK_RE = re.compile("|".join(_GREEK))
# A hyphen between a letter and a digit is spelling (ATG-12, miR-155, AP-1); any other separates
# words (T-cell, TNF-alpha), and a few compounds are written both ways (knock-down, knockdown).
_LETTER_DIGIT_DASH = re.compile(r"(?<=[^\W\d_])[-‐‑‒–—](?=\d)")
_COMPOUNDS = re.compile(r"\b(knock|over|down|up|co|anti|pre|post|non|re) (down|out|expression|expressed|regulation|regulated|regulates|regulate|regulating|treatment|tumou?r|inhibition|activation)\b")
# Every other punctuation mark separates words; "+" is kept (CD4+ cells are not CD4 cells).
_PUNCT = re.compile(r"[^\w\s+]")
_SPACE = re.compile(r"\s+")
_PLURAL_KEEP = ("ss", "us", "is")

# Words of a perturbation that name the method, not what is perturbed.
_METHOD_WORDS = frozenset("""
a an the of by with and or in on at to for from using via its their this that these those
knockdown knockout knock knocked knocking down out overexpression overexpressed overexpressing
expression expressed ectopic enforced forced restored restoring rescue rescuing transgenic
silencing silenced silence depletion depleted depleting deletion deleted deleting loss lost
absence absent lack lacking deficiency deficient null inactivation inactivated inactivating
inhibition inhibitor inhibitors inhibiting inhibited inhibit blockade blocking blocked block
activation activated activating activator activators agonist agonists antagonist antagonists
antagonism pharmacological pharmacologic chemical small molecule selective specific potent
mutation mutations mutant mutants mutated variant variants allele homozygous heterozygous
downregulation downregulating downregulated upregulation upregulating upregulated
reduced reduction increased treatment treated targeting targeted combined combination
co coadministration administration genetic gene genes mediated based induced dependent
sirna sirnas shrna shrnas crispr cas9 rnai kd ko oe cells cell
""".split())
_AFFIX_RE = re.compile(r"[-‐‑](?:deficient|knockdown|knockout|null|mediated|induced|depleted|silenced|kd|ko)$", re.I)
_WORD_RE = re.compile(r"[^\s(),;:\[\]{}]+")


def _singular(word: str, original: str) -> str:
    # Only plain lower-case words: KRAS or Kras are gene names, not plurals.
    if len(word) < 5 or not word.endswith("s") or word.endswith(_PLURAL_KEEP) or not word.isalpha() or not original[1:].islower():
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1]


def normalise_text(text: str) -> str:
    """The form of a member's text that statements are grouped by: Unicode NFKC, Greek letters
    spelled out as words, lower case, a hyphen between a letter and a digit dropped (ATG-12), other
    punctuation (except "+") and runs of whitespace made one space, simple plurals ("cells",
    "inhibitors", "arteries", "approaches") made singular, and compounds written apart joined (knock down → knockdown).

    text (str): the member's text as in the abstract.
    RETURNS (str): the normalised text ("" for text of punctuation only).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _GREEK_RE.sub(lambda m: f" {_GREEK[m.group()]} ", text)
    text = _LETTER_DIGIT_DASH.sub("", text)
    originals = _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip().split(" ")
    words = " ".join(_singular(word.lower(), word) for word in originals if word)
    return _COMPOUNDS.sub(r"\1\2", words)


def _gene_like(word: str) -> bool:
    # A digit, or a capital after the first letter: ATG12, circHIPK3, miR-155, Tat-Beclin.
    return any(c.isdigit() for c in word) or any(c.isupper() for c in word[1:])


def perturbation_target(text: str) -> str:
    """The target of a PERTURBING_ACTION: its gene or agent words, without the method words
    ("knockdown of ATG12" → "ATG12", "RAB6 overexpression" → "RAB6", "Rad51ap1-deficient" →
    "Rad51ap1"). Gene-like words (a digit or an inner capital) are kept when there are any, else
    every word that does not name the method ("Loss of Afadin" → "Afadin").

    text (str): the perturbation's text as in the abstract.
    RETURNS (str): the target's words joined by spaces, original case ("" when none is left).
    """
    text = unicodedata.normalize("NFKC", text)
    words: List[str] = []
    for word in _WORD_RE.findall(text):
        word = _AFFIX_RE.sub("", word.strip(".,'\"-"))
        if word and word.lower() not in _METHOD_WORDS and any(c.isalnum() for c in word):
            words.append(word)
    genes = [w for w in words if _gene_like(w)]
    return " ".join(genes or words)

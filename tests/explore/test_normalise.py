"""Normalisation of statement members: corpus-like variants that must merge and must not."""
import pytest

from fgen.explore.normalise import normalise_text, perturbation_target


@pytest.mark.parametrize("a,b", [
    ("Knockdown of ATG12", "knock-down of  ATG-12"),
    ("knock down of ATG12", "Knockdown of\nATG12"),
    ("HeLa cells", "HeLa cell"),
    ("TNF-α inhibitors", "TNF alpha inhibitor"),
    ("CD4+ T-cells", "CD4+ T cells"),
    ("down-regulates", "downregulates"),
    ("Pharmacologic IRE1α kinase inhibition", "pharmacologic IRE1-alpha kinase inhibition"),
    ("autophagy.", "(autophagy)"),
    ("pig arteries", "pig artery"),
    ("pharmacological approaches", "pharmacological approach"),
    ("boxes", "box"),
])
def test_normalise_merges_variants(a, b):
    assert normalise_text(a) == normalise_text(b)


@pytest.mark.parametrize("a,b", [
    ("knockdown of ATG12", "knockdown of ATG1"),
    ("increases", "decreases"),
    ("p53", "p63"),
    ("KRAS", "KRA"),
    ("Kras", "Kra"),
    ("stress", "stres"),
    ("metastasis", "metastasi"),
    ("CD4+ T cells", "CD4 T cells"),
    ("Overexpression of ZNNT1", "knockdown of ZNNT1"),
])
def test_normalise_keeps_apart(a, b):
    assert normalise_text(a) != normalise_text(b)


def test_normalise_is_idempotent_and_lower_case():
    for text in ["Knockdown of ATG12", "TNF-α", "CD4+ T-cells", "HeLa  cells"]:
        once = normalise_text(text)
        assert normalise_text(once) == once
        assert once == once.lower()


@pytest.mark.parametrize("text,target", [
    ("knockdown of ATG12", "ATG12"),
    ("Overexpression of  ZNNT1", "ZNNT1"),
    ("RAB6 overexpression", "RAB6"),
    ("Rad51ap1-deficient", "Rad51ap1"),
    ("RNF166-knockdown", "RNF166"),
    ("Loss of Afadin", "Afadin"),
    ("small-molecule inhibitor of FABP4  (BMS309403)", "FABP4 BMS309403"),
    ("clustered regularly interspaced short palindromic repeats (CRISPR)-mediated  knockout of FABP4", "FABP4"),
    ("silencing of circHIPK3", "circHIPK3"),
    ("Overexpression of miR-155 and the miR-23a cluster", "miR-155 miR-23a"),
    ("rapamycin", "rapamycin"),
    ("knockdown", ""),
])
def test_perturbation_target(text, target):
    assert perturbation_target(text) == target

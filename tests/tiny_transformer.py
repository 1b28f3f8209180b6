"""A tiny random BERT built offline, for tests that need a transformer but not a good one.

    from tests.tiny_transformer import build_tiny_bert
    folder = build_tiny_bert(tmp_path / "tiny-bert", texts)

Nothing is downloaded: the vocabulary is made from the test texts (lower-cased words and
characters, plus BERT's special tokens), the weights are random (seeded) and everything is
written with `save_pretrained`, so `AutoTokenizer`/`AutoModel.from_pretrained(folder)` work
with `HF_HUB_OFFLINE=1`.
"""
import random
import re
from pathlib import Path
from typing import Iterable, Union

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Every character of `primer_text`, for a vocabulary that spells primers letter by letter.
PRIMER_CHARS = " ".join("acgtp0123456789'-(),.:")


def primer_text(n_primers: int = 120, seed: int = 0) -> str:
    """A methods-style primer list, "5'-ACGT...-3' (P1), 5'-...-3' (P2), ...": few spaCy tokens
    (6 per primer with fgen's tokenizer: ~730 for the default), many wordpieces per token."""
    rng = random.Random(seed)
    primers = [
        f"5'-{''.join(rng.choice('ACGT') for _ in range(rng.randint(18, 26)))}-3' (P{i})"
        for i in range(1, n_primers + 1)
    ]
    return "Primers: " + ", ".join(primers) + "."


def tiny_vocab(texts: Iterable[str]) -> list:
    """Special tokens, every character (also as a `##` continuation) and every word of `texts`."""
    words, chars = set(), set()
    for text in texts:
        lowered = text.lower()
        words.update(re.findall(r"\w+|[^\w\s]", lowered))
        chars.update(c for c in lowered if not c.isspace())
    pieces = sorted(chars) + [f"##{c}" for c in sorted(chars)] + sorted(words - chars)
    return SPECIAL_TOKENS + pieces


def build_tiny_bert(
    folder: Union[str, Path],
    texts: Iterable[str],
    hidden_size: int = 32,
    max_length: int = 512,
    seed: int = 0,
) -> Path:
    """Write a random 1-layer BERT (hidden 32, 2 heads) and its fast tokenizer to `folder`.

    max_length (int): the position embeddings and the tokenizer's `model_max_length` (512, as a
        real BERT, so the configs' transformer windows fit; wordpieces past it are truncated).
    RETURNS (Path): the folder, usable as a model name for `from_pretrained`.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(tiny_vocab(texts)) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=max_length)
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=max_length,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(folder))
    return folder

"""What the encoder windows' overlap costs and buys: the pipeline run with other windows than it
was trained with (issue 29, item 3), scored and timed on the same gold docs in one run.

    python scripts/benchmark_windows.py MODEL corpus/v2/dev.spacy --windows 192/144,192/192,256/224,256/256 \
        [--definitions assets/fgen-corpus] [--output windows.json]

For each WINDOW/STRIDE the pipeline is loaded with
`components.tok2vec.model.embed.features.get_spans` set to `fgen.wordpiece_strided_spans.v1`
(window, stride) (the trained weights are the same: only the features' windows change), and
reports the wordpieces the encoder reads (an exact cost, independent of the machine's load: the
windows' wordpieces over the whole abstracts'), words/s of `scripts/evaluate.py`'s pass (pipeline
and scoring, one process) and the scores. Settings run one after the other, the first twice
(its first pass warms caches up and is not reported), so compare the words/s within one run.
"""
import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import spacy
import typer
from spacy.tokens import Doc, DocBin

import fgen  # noqa: F401  registers fgen's extensions and functions
from fgen.analysis.corpus_stats import count_words
from fgen.pipeline.layers.encoder_features import pipeline_features_nodes
from fgen.runs.benchmarking import machine
from fgen.scoring.evaluation import evaluate_docs
from fgen.util.console import msg

SPAN_GETTER = "components.tok2vec.model.embed.features.get_spans"
HEADLINE = {"entities": "ents_f", "values": "values_f", "statements": "links_f"}


def parse_windows(text: str) -> List[Tuple[int, int]]:
    """"192/144,192/192" -> [(192, 144), (192, 192)]; stride <= window."""
    settings = []
    for item in text.split(","):
        window, _, stride = item.strip().partition("/")
        if not window.isdigit() or not stride.isdigit() or not 0 < int(stride) <= int(window):
            raise typer.BadParameter(f"{item!r}: expected WINDOW/STRIDE with 0 < STRIDE <= WINDOW")
        settings.append((int(window), int(stride)))
    return settings


def load_with_windows(model: str, window: int, stride: int) -> spacy.Language:
    """The pipeline at `model` with its encoder's windows replaced."""
    return spacy.load(model, config={SPAN_GETTER: {"@span_getters": "fgen.wordpiece_strided_spans.v1",
                                                    "window": window, "stride": stride}})


def wordpieces_read(nlp: spacy.Language, docs: List[Doc]) -> Tuple[int, int]:
    """(wordpieces in the encoder's windows, wordpieces of the whole docs), special tokens included."""
    encoder = pipeline_features_nodes(nlp)[0].layers[0]
    tokenizer = encoder.tokenizer
    windows = [span.text for spans in encoder.attrs["get_spans"](docs) for span in spans]
    count = lambda texts: sum(len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"])  # noqa: E731
    return count(windows), count([doc.text for doc in docs])


def measure(model: str, gold: List[Doc], window: int, stride: int, definitions: Optional[Path]) -> Dict:
    nlp = load_with_windows(model, window, stride)
    in_windows, whole = wordpieces_read(nlp, [nlp.make_doc(doc.text) for doc in gold])
    start = time.perf_counter()
    scores = evaluate_docs(nlp, gold, definitions=definitions)
    seconds = time.perf_counter() - start
    words = sum(count_words(doc) for doc in gold)
    return {"window": window, "stride": stride, "wordpieces_ratio": in_windows / whole, "seconds": seconds,
            "words_per_second": words / seconds, **{name: scores[key] for name, key in HEADLINE.items()}}


def main(
    model: str = typer.Argument(..., help="Pipeline folder with an fgen.encoder_features.v1 encoder"),
    gold: Path = typer.Argument(..., help="Gold DocBin (e.g. corpus/v2/dev.spacy)", exists=True, dir_okay=False),
    windows: str = typer.Option("192/144,192/192,256/224,256/256", help="Comma-separated WINDOW/STRIDE settings, the shipped one first"),
    definitions: Optional[Path] = typer.Option(None, help="Corpus folder with the scheme definition files"),
    output: Optional[Path] = typer.Option(None, help="Write the results as JSON"),
) -> None:
    """Score and time the pipeline with other encoder windows."""
    settings = parse_windows(windows)
    docs = list(DocBin().from_disk(gold).get_docs(spacy.blank("en").vocab))
    measure(model, docs[:16], *settings[0], definitions)  # warm-up
    results = []
    for window, stride in settings:
        results.append(measure(model, docs, window, stride, definitions))
        r = results[-1]
        msg.good(f"{window}/{stride}: {r['wordpieces_ratio']:.2f}x the wordpieces, {r['words_per_second']:.0f} words/s, "
                 + ", ".join(f"{name} F {100 * r[name]:.1f}" for name in HEADLINE))
    print(f"\n{len(docs)} docs of {gold}, {machine()}\n")
    print("| window/stride | wordpieces read / whole abstracts | words/s | × first | entities F | values F | statements F |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['window']}/{r['stride']} | {r['wordpieces_ratio']:.2f} | {r['words_per_second']:.0f} | "
              f"{r['words_per_second'] / results[0]['words_per_second']:.2f} | "
              + " | ".join(f"{100 * r[name]:.1f}" for name in HEADLINE) + " |")
    if output is not None:
        output.write_text(json.dumps({"machine": machine(), "gold": str(gold), "results": results}, indent=2))


if __name__ == "__main__":
    typer.run(main)

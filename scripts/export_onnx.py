"""Store the pipeline's frozen encoder as ONNX (fp32, optionally dynamic int8) inside the pipeline.

    python scripts/export_onnx.py training/pipeline_features_ensemble/model training/pipeline_features_ensemble/model-onnx --int8
    FGEN_ENCODER_RUNTIME=onnx-int8 python scripts/evaluate.py training/pipeline_features_ensemble/model-onnx ...

Every `fgen.encoder_features.v1` node of MODEL that runs its encoder (an ensemble's members read
the shared one's features and have none) gets its encoder exported (fgen/pipeline/layers/
onnx_encoder.py: eager attention, padded dummy, dynamic batch and sequence axes, every hidden
state an output), and the pipeline is written to OUTPUT with the export stored in its `tok2vec`
model, whole or not at all. Loaded on CPU with onnxruntime installed, OUTPUT runs the `--default`
variant; `FGEN_ENCODER_RUNTIME=torch|onnx|onnx-int8` picks another. Before writing, each
variant's features are compared with PyTorch fp32's on a few texts and the largest difference
is printed (fp32 must be within --tolerance, else exit 1: a wrong export is never written).
"""
from pathlib import Path
from typing import Dict, List, Optional

import numpy
import spacy
import typer

import fgen  # noqa: F401  registers fgen's extensions and functions
from fgen.pipeline.layers.encoder_features import pipeline_features_nodes, torch_module
from fgen.pipeline.layers.onnx_encoder import export_onnx, set_encoder_runtime, store_onnx
from fgen.util.atomic import atomic_directory
from fgen.util.console import msg

app = typer.Typer(add_completion=False)
CHECK_TEXTS = [
    "Knockdown of ATG12 inhibits autophagy in uveal melanoma cells.",
    "HeLa cells were treated with siRNA against TP53, and apoptosis increased markedly after 48 h.",
    "CRISPR.",
]


def feature_differences(nlp: spacy.Language, texts: List[str]) -> Dict[str, float]:
    """The largest absolute difference between each runtime's features and PyTorch fp32's, over
    `texts` in one batch (mixed lengths: padded calls)."""
    docs = [nlp.make_doc(text) for text in texts]
    differences: Dict[str, float] = {}
    for node in pipeline_features_nodes(nlp):
        runs = {}
        for choice in ("torch", "onnx", "onnx-int8"):
            if choice == "onnx-int8" and "int8" not in node.attrs["onnx_encoder"]["variants"]:
                continue
            set_encoder_runtime(node, choice)
            runs[choice] = numpy.concatenate(node.predict(docs))
        set_encoder_runtime(node, None)
        for choice, got in runs.items():
            if choice != "torch":
                differences[choice] = max(differences.get(choice, 0.0), float(numpy.abs(got - runs["torch"]).max()))
    return differences


def export_pipeline(nlp: spacy.Language, int8: bool = False, default: str = "fp32") -> int:
    """Export and store the encoder of every features node of `nlp` that runs one.

    RETURNS (int): the number of nodes exported.
    """
    nodes = pipeline_features_nodes(nlp)
    for node in nodes:
        store_onnx(node, export_onnx(torch_module(node.layers[0]), int8=int8), default=default)
    return len(nodes)


@app.command()
def main(
    model: Path = typer.Argument(..., help="Pipeline folder with an fgen.encoder_features.v1 encoder", exists=True, file_okay=False),
    output: Path = typer.Argument(..., help="Folder for the pipeline with its ONNX encoder"),
    int8: bool = typer.Option(False, "--int8", help="Also store the dynamic-int8 quantisation"),
    default: str = typer.Option("fp32", "--default", help="The variant run by default: fp32 or int8"),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest fp32 feature difference from PyTorch accepted"),
    texts: Optional[Path] = typer.Option(None, "--texts", help="A .txt file (one text per line) for the check instead of the built-in texts"),
    if_encoder: bool = typer.Option(False, "--if-encoder", help="A pipeline without a frozen encoder (e.g. the CNN's) is left as it is, exit 0 (the workflow's step)"),
) -> None:
    """Write MODEL to OUTPUT with its frozen encoder exported to ONNX."""
    if default not in ("fp32", "int8") or (default == "int8" and not int8):
        msg.fail(f"--default: fp32, or int8 with --int8 (got {default!r})", exits=1)
    nlp = spacy.load(model)
    if not export_pipeline(nlp, int8=int8, default=default):
        if if_encoder:
            msg.info(f"{model}: no fgen.encoder_features.v1 encoder, nothing to export")
            return
        msg.fail(f"{model}: no fgen.encoder_features.v1 encoder to export", exits=1)
    check = [line for line in texts.read_text(encoding="utf8").splitlines() if line.strip()] if texts else CHECK_TEXTS
    differences = feature_differences(nlp, check)
    for choice, difference in differences.items():
        msg.text(f"{choice}: largest feature difference from PyTorch fp32 {difference:.2e}")
    if differences["onnx"] > tolerance:
        msg.fail(f"fp32 ONNX features differ from PyTorch by {differences['onnx']:.2e} > {tolerance:g}: not written", exits=1)
    with atomic_directory(output) as tmp:
        nlp.to_disk(tmp)
    msg.good(f"Wrote {output} (ONNX encoder: {'fp32 and int8' if int8 else 'fp32'}, default {default})")


if __name__ == "__main__":
    app()

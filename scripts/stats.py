"""Write the corpus report: markdown tables plus PNG plots, for one or more named DocBins.

    python scripts/stats.py NAME=PATH.spacy [NAME=PATH.spacy ...] --output docs/corpus.md \
        --img-dir docs/img [--tokenizer fgen-default|HF name|folder|none] [--definitions DIR]

e.g. `v2=corpus/v2.spacy v1=corpus/v1.spacy v2-train=corpus/v2/train.spacy`. The numbers come
from `fgen.analysis.corpus_stats` (its docstring says how words, entities and sentences are counted).
"""
import hashlib
import os
import re
import shlex
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import spacy  # noqa: E402
import typer  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402
from wasabi import msg  # noqa: E402

import fgen  # noqa: E402
from fgen.util.atomic import write_bytes_atomic  # noqa: E402
from fgen.util.figures import save_figure  # noqa: E402
from fgen.util.markdown import md_table  # noqa: E402
from fgen.analysis.corpus_stats import MAX_WORDPIECES, CorpusStats, compute_stats, load_tokenizer  # noqa: E402
from fgen.pipeline.layers.encoders import DEFAULT_ENCODER  # noqa: E402
from fgen.corpus.schemes import load_scheme  # noqa: E402

app = typer.Typer(add_completion=False)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_LENGTH_BIN = 30  # entity lengths above this share the last histogram bar
TOP_COMBINATIONS = 20


# ---------------------------------------------------------------- numbers and markdown helpers


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary(values: Sequence[int]) -> str:
    """'mean / median / max' of `values`, or '-' when empty."""
    if not values:
        return "-"
    return f"{statistics.mean(values):.1f} / {statistics.median(values):g} / {max(values)}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> List[str]:
    return md_table(header, rows) + [""]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# ---------------------------------------------------------------- plots


def plot_entity_lengths(name: str, stats: CorpusStats, path: Path) -> None:
    labels = sorted(stats.entity_lengths)
    cols = min(2, max(1, len(labels)))
    rows = max(1, -(-len(labels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3 * rows), squeeze=False, layout="constrained")
    bins = [b + 0.5 for b in range(MAX_LENGTH_BIN + 1)]
    for ax, label in zip(axes.flat, labels):
        lengths = [min(n, MAX_LENGTH_BIN) for n in stats.entity_lengths[label]]
        ax.hist(lengths, bins=bins, color="tab:blue")
        ax.set_title(f"{label} (n={len(lengths)})")
        ax.set_xlabel(f"words per entity (last bar: {MAX_LENGTH_BIN}+)")
        ax.set_ylabel("entities")
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.suptitle(f"{name}: entity length per category")
    save_figure(fig, path)


def plot_wordpieces(name: str, stats: CorpusStats, tokenizer: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    ax.hist(stats.wordpieces, bins=range(0, max(stats.wordpieces + [MAX_WORDPIECES]) + 25, 25), color="tab:blue")
    ax.axvline(MAX_WORDPIECES, color="tab:red", linestyle="--", label=f"{MAX_WORDPIECES} ({stats.docs_over_limit} docs over)")
    ax.set_xlabel(f"wordpieces per doc ({tokenizer}, [CLS]/[SEP] included)")
    ax.set_ylabel("docs")
    ax.set_title(f"{name}: wordpieces per doc (n={stats.n_docs})")
    ax.legend()
    save_figure(fig, path)


def plot_values(name: str, groups: List[Tuple[str, Counter]], path: Path) -> None:
    sizes = [max(1, len(counts)) for _, counts in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 1.2 + 0.22 * sum(sizes) + 0.6 * len(groups)),
                             gridspec_kw={"height_ratios": sizes}, squeeze=False, layout="constrained")
    for ax, (title, counts) in zip(axes[:, 0], groups):
        items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))  # largest at the top
        ax.barh([v or "(none)" for v, _ in items], [n for _, n in items], color="tab:green")
        for y, (_, n) in enumerate(items):
            ax.text(n, y, f" {n}", va="center", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.margins(x=0.08)
    axes[-1, 0].set_xlabel("entities")
    fig.suptitle(f"{name}: entities per value")
    save_figure(fig, path)


def plot_links(name: str, stats: CorpusStats, path: Path) -> None:
    counts = Counter(stats.links_per_doc)
    xs = list(range(0, max(counts, default=0) + 1))
    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    ax.bar(xs, [counts[x] for x in xs], color="tab:purple")
    ax.set_xticks(xs)
    ax.set_xlabel("statements per doc")
    ax.set_ylabel("docs")
    ax.set_title(f"{name}: statements per statement-annotated doc (n={len(stats.links_per_doc)})")
    save_figure(fig, path)


# ---------------------------------------------------------------- report


def field_names(scheme_name: Optional[str], definitions: Optional[Path]) -> Dict[str, List[str]]:
    """category -> value field names, from the scheme definitions when available."""
    if not (scheme_name and definitions):
        return {}
    try:
        scheme = load_scheme(definitions, scheme_name)
    except (FileNotFoundError, ValueError) as err:
        msg.warn(f"value fields unnamed: {err}")
        return {}
    return {cat.label: [f.name for f in cat.fields] for cat in scheme.categories}


def value_groups(stats: CorpusStats, fields: Dict[str, List[str]]) -> List[Tuple[str, Counter]]:
    """One (title, value counts) per category and value field."""
    groups: Dict[Tuple[str, int], Counter] = {}
    for (label, i, value), n in stats.field_values.items():
        groups.setdefault((label, i), Counter())[value] = n
    titled = []
    for (label, i), counts in sorted(groups.items()):
        names = fields.get(label, [])
        field = names[i] if i < len(names) else f"value {i + 1}"
        titled.append((f"{label}: {field}", counts))
    return titled


def overview(corpora: List[Tuple[str, Path, CorpusStats, str]]) -> List[str]:
    rows = [
        ("file (sha256)", [f"`{p}` ({sha256(p)})" for _, p, _, _ in corpora]),
        ("scheme", [scheme for *_, scheme in corpora]),
        ("docs", [s.n_docs for _, _, s, _ in corpora]),
        ("words", [sum(s.words) for _, _, s, _ in corpora]),
        ("words per doc (mean / median / max)", [summary(s.words) for _, _, s, _ in corpora]),
        ("wordpieces", [sum(s.wordpieces) if s.wordpieces is not None else "-" for _, _, s, _ in corpora]),
        ("wordpieces per doc (mean / median / max)", [summary(s.wordpieces or []) for _, _, s, _ in corpora]),
        (f"docs over {MAX_WORDPIECES} wordpieces", [
            "-" if s.wordpieces is None else f"{s.docs_over_limit} ({pct(s.docs_over_limit, s.n_docs)})" for _, _, s, _ in corpora]),
        ("sentences", [len(s.sentence_lengths) for _, _, s, _ in corpora]),
        ("words per sentence (mean / median / max)", [summary(s.sentence_lengths) for _, _, s, _ in corpora]),
        ("entities (spans)", [f"{sum(s.entities.values())} ({sum(s.spans.values())})" for _, _, s, _ in corpora]),
        ("discontinuous entities", [sum(s.discontinuous.values()) for _, _, s, _ in corpora]),
        ("docs with overlapping spans (no `doc.ents`)", [s.docs_with_overlaps for _, _, s, _ in corpora]),
        ("docs with no entities", [f"{s.docs_without_entities} ({pct(s.docs_without_entities, s.n_docs)})" for _, _, s, _ in corpora]),
        ("docs with statements annotated: yes / no", [f"{s.docs_links_annotated[True]} / {s.docs_links_annotated[False]}" for _, _, s, _ in corpora]),
        ("statements", [s.n_links for _, _, s, _ in corpora]),
        ("statements per statement-annotated doc (mean / median / max)", [summary(s.links_per_doc) for _, _, s, _ in corpora]),
        ("entities in no statement (statement-annotated docs)", [
            f"{sum(s.unlinked_entities.values())} of {sum(s.linked_doc_entities.values())} "
            f"({pct(sum(s.unlinked_entities.values()), sum(s.linked_doc_entities.values()))})" for _, _, s, _ in corpora]),
    ]
    return table(["", *[name for name, *_ in corpora]], [[label, *cells] for label, cells in rows])


def corpus_section(name: str, stats: CorpusStats, scheme: str, fields: Dict[str, List[str]], images: Dict[str, str]) -> List[str]:
    lines = [f"## {name} (scheme {scheme})", "", "### Documents by folder", ""]
    lines += table(["folder", "docs", "no entities", "statements annotated"], [
        [f, c["docs"], c["no_entities"], c["links_annotated"]] for f, c in sorted(stats.folders.items())])
    total = sum(stats.entities.values())
    lines += ["### Entities per category", ""]
    lines += table(
        ["category", "entities", "% of entities", "spans", "discontinuous", "words per entity (mean / median / max)",
         "in statement-annotated docs", "in no statement"],
        [[label, n, pct(n, total), stats.spans[label], stats.discontinuous[label], summary(stats.entity_lengths[label]),
          stats.linked_doc_entities[label], f"{stats.unlinked_entities[label]} ({pct(stats.unlinked_entities[label], stats.linked_doc_entities[label])})"]
         for label, n in sorted(stats.entities.items())],
    )
    if "entity_lengths" in images:
        lines += [f"![{name} entity lengths]({images['entity_lengths']})", ""]
    if "wordpieces" in images:
        lines += ["### Wordpieces per doc", "",
                  f"{stats.docs_over_limit} of {stats.n_docs} docs ({pct(stats.docs_over_limit, stats.n_docs)}) are longer "
                  f"than {MAX_WORDPIECES} wordpieces; mean / median / max {summary(stats.wordpieces)}.", "",
                  f"![{name} wordpieces per doc]({images['wordpieces']})", ""]
    lines += ["### Entities per value", ""]
    for title, counts in value_groups(stats, fields):
        whole = sum(counts.values())
        lines += [f"**{title}**", ""]
        lines += table(["value", "entities", "%"], [[v or "(none)", n, pct(n, whole)] for v, n in counts.most_common()])
    for label in sorted(stats.entities):
        combos = Counter({v: n for (lab, v), n in stats.values.items() if lab == label})
        if len(fields.get(label, [])) > 1 or any("|" in v for v in combos):
            lines += [f"**{label}: value combinations** ({len(combos)} distinct, top {TOP_COMBINATIONS})", ""]
            lines += table(["kb_id", "entities"], combos.most_common(TOP_COMBINATIONS))
    if "values" in images:
        lines += [f"![{name} entities per value]({images['values']})", ""]
    lines += ["### Statements", ""]
    if not stats.links_per_doc:
        return lines + ["No doc of this corpus had its statements annotated.", ""]
    per_doc = Counter(stats.links_per_doc)
    lines += table(["statements in the doc", "statement-annotated docs"], [[k, per_doc[k]] for k in sorted(per_doc)])
    lines += table(["role (category)", "statements with it filled", "filled with an entity of another category"],
                   [[label, f"{stats.role_coverage[label]} ({pct(stats.role_coverage[label], stats.n_links)})", stats.role_mismatches[label]]
                    for label in sorted(set(stats.entities) | set(stats.role_coverage))])
    lines += [f"![{name} statements per doc]({images['links']})", ""]
    return lines


def header(tokenizer: str) -> List[str]:
    command = "python scripts/stats.py " + shlex.join(sys.argv[1:])
    described = f"`{tokenizer}`"
    if tokenizer == DEFAULT_ENCODER:
        described += " (the packaged sentence-transformers/all-MiniLM-L6-v2: uncased BERT wordpieces)"
    return [
        "# Corpus report", "",
        f"Generated by `{command}` (fgen {fgen.__version__}); do not edit by hand.", "",
        "Words are non-whitespace tokens of fgen's tokenizer. An entity is one annotated mention (the "
        "fragments of a discontinuous V1 entity count once; its length sums them). Sentences come from "
        "spaCy's rule-based `sentencizer` plus a break at blank lines. Wordpieces use the tokenizer "
        f"{described} with [CLS]/[SEP]; {MAX_WORDPIECES} is the encoder's limit. Statement statistics only count "
        "docs whose provenance says statements (MAE's ENTITY_LINKING) were annotated. Definitions: `components/analysis/corpus_stats.py`.", "",
    ]


def parse_corpora(specs: List[str]) -> List[Tuple[str, Path]]:
    corpora = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not NAME_RE.match(name) or not path:
            msg.fail(f"{spec!r}: expected NAME=PATH.spacy with NAME of letters, digits, '.', '_' or '-'", exits=2)
        if not Path(path).is_file():
            msg.fail(f"{path}: no such file", exits=2)
        corpora.append((name, Path(path)))
    names = [n for n, _ in corpora]
    if len(set(names)) != len(names):
        msg.fail(f"corpus names must be unique: {', '.join(names)}", exits=2)
    return corpora


@app.command()
def main(
    corpora: List[str] = typer.Argument(..., help="NAME=PATH.spacy, one per corpus or split"),
    output: Path = typer.Option(Path("docs/corpus.md"), "--output", "-o", help="Markdown report to write"),
    img_dir: Path = typer.Option(Path("docs/img"), "--img-dir", help="Folder for the PNG plots"),
    tokenizer: str = typer.Option(DEFAULT_ENCODER, "--tokenizer", "-t", help="fgen-default, a HF name or folder, or 'none'"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files (names the V1 value fields)"),
) -> None:
    """Write a markdown corpus report with plots for named DocBins."""
    named = parse_corpora(corpora)
    hf_tokenizer = None if tokenizer.lower() == "none" else load_tokenizer(tokenizer)
    nlp = spacy.blank("en")
    results, sections = [], []
    for name, path in named:
        docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        stats = compute_stats(docs, hf_tokenizer)
        schemes = sorted({str((d._.provenance or {}).get("scheme")) for d in docs})
        scheme = ", ".join(schemes) or "-"
        images = {}
        stem = f"corpus_{name}"
        if stats.entity_lengths:
            images["entity_lengths"] = img_dir / f"{stem}_entity_lengths.png"
            plot_entity_lengths(name, stats, images["entity_lengths"])
        if stats.wordpieces:
            images["wordpieces"] = img_dir / f"{stem}_wordpieces.png"
            plot_wordpieces(name, stats, tokenizer, images["wordpieces"])
        fields = field_names(schemes[0] if len(schemes) == 1 else None, definitions)
        if stats.field_values:
            images["values"] = img_dir / f"{stem}_values.png"
            plot_values(name, value_groups(stats, fields), images["values"])
        if stats.links_per_doc:
            images["links"] = img_dir / f"{stem}_links.png"
            plot_links(name, stats, images["links"])
        # Relative links, so the report renders wherever the repository is checked out.
        rel = {k: Path(os.path.relpath(p, output.parent)).as_posix() for k, p in images.items()}
        results.append((name, path, stats, scheme))
        sections += corpus_section(name, stats, scheme, fields, rel)
        msg.good(f"{name}: {stats.n_docs} docs, {len(images)} plot(s)")
    lines = header(tokenizer) + ["## Overview", ""] + overview(results) + sections
    write_bytes_atomic(output, ("\n".join(lines).rstrip() + "\n").encode("utf8"))
    msg.good(f"Wrote {output}")


if __name__ == "__main__":
    app()

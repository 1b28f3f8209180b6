"""Annotator agreement between two folders of MAE files of the same abstracts.

    python scripts/agreement.py FOLDER_A FOLDER_B --scheme v2 --output docs/agreement.md [--json out.json]

Files pair up by the PMID in their names; A is the reference, B the prediction. Bad files are
listed one line each (file: reason) and nothing is written (exit 1).
"""
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import srsly
import typer

from fgen.analysis.agreement import (
    ALL, Agreement, Counts, Pairing, compare_documents, model_word_scores, pair_by_pmid, value_summary,
)
from fgen.util.atomic import write_bytes_atomic
from fgen.util.console import msg
from fgen.util.markdown import md_table
from fgen.corpus.conversion import collect_files, pmid_of
from fgen.formats.mae import MaeDocument, MaeError, read_mae
from fgen.corpus.schemes import Scheme, find_definitions_dir, load_scheme
from fgen.scoring.word_scores import scored_heads

app = typer.Typer(add_completion=False)

METHOD = """\
## How it is computed

A is the reference and B the prediction: P = matched / B's items, R = matched / A's items,
F1 = 2 matched / (A's items + B's items), so F1 does not depend on which side is A. "all" rows
are micro-averaged (counts summed over categories and abstracts). n/a: nothing to divide by.

- **Strict entities**: an A and a B entity match when they have the same category and
  identical fragments (all `start~end` offsets, so discontinuous entities need every fragment
  equal). Matching is one-to-one: a duplicated entity matches at most one copy.
- **Overlap entities**: same category and at least one shared character. One-to-one greedy
  matching: all overlapping same-category (A, B) pairs are sorted by most shared characters,
  then smallest union of the two (so an exact match beats a wider one), then A's start, then
  B's start; going down that list, a pair is taken when neither entity is matched yet.
- **Values**: for each category's value fields, over the matched (A, B) entity pairs:
  n pairs, agreeing pairs, accuracy = agreeing / n, and Cohen's kappa = (p_o - p_e) / (1 - p_e)
  with p_o = accuracy and p_e = sum over values v of P_A(v) P_B(v) (each annotator's value
  distribution over those pairs); n/a when p_e = 1. Shown for strict and for overlap matches.
- **Statements** (MAE's ENTITY_LINKING): a statement is the set of its members' (category,
  fragments); an A and a B statement match
  when the sets are equal (the same roles filled, each with an identical span and category).
  One-to-one; P/R/F1 as above.
- **Word-level F1 as the models are scored**: `fgen.scoring.word_scores` with A as gold and B
  as prediction: each whitespace word takes the category (and values) of the entity overlapping
  it, and tp/fp/fn are counted per word over all words (see that module).
- **Word-level (older formula)**: the text is split on spaces and newlines into words (runs of
  other characters, with their offsets). A word takes the (field, value) pairs of every entity
  overlapping it by at least one character: (`category`, the entity's label) and (field, value)
  for each of the category's value fields. For each word where either annotator has a pair,
  with S_A and S_B the two sets of pairs: matched = |S_A & S_B|, n_A = |S_A|, n_B = |S_B|.
  Agreement = sum(matched) / sum(n_A + n_B - matched) over those words. Per field, the same with
  only that field's pairs, over the words where either annotator has a pair of that field.
  Words tagged by neither annotator are left out (they would add nothing to either sum).
"""


def fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def entity_rows(total: Agreement) -> List[List]:
    rows = []
    for label in [*total.strict, ALL]:
        strict = total.strict_total if label == ALL else total.strict[label]
        overlap = total.overlap_total if label == ALL else total.overlap[label]
        name = "**all (micro)**" if label == ALL else label
        n_a, n_b = strict.tp + strict.fn, strict.tp + strict.fp
        rows.append([name, n_a, n_b, strict.tp, fmt(strict.precision), fmt(strict.recall), fmt(strict.f1),
                     overlap.tp, fmt(overlap.precision), fmt(overlap.recall), fmt(overlap.f1)])
    return rows


def value_rows(total: Agreement) -> List[List]:
    rows = []
    for key, conf in total.values_strict.items():
        s, o = value_summary(conf), value_summary(total.values_overlap[key])
        rows.append([*key, s["n"], s["agree"], fmt(s["accuracy"]), fmt(s["kappa"]), o["n"], o["agree"], fmt(o["accuracy"]), fmt(o["kappa"])])
    return rows


def link_row(links: Counts) -> List:
    return [links.tp + links.fn, links.tp + links.fp, links.tp, fmt(links.precision), fmt(links.recall), fmt(links.f1)]


def model_word_rows(scores: Dict[str, float]) -> List[List]:
    return [[f"**{h}**" if h == "category" else h, fmt(scores[f"words_{h}_p"]), fmt(scores[f"words_{h}_r"]),
             fmt(scores[f"words_{h}_f"])] for h in scored_heads(scores)]


def render(command: str, folders: Tuple[Path, Path], scheme: Scheme, pairing: Pairing, per_doc: Dict[str, Agreement],
           total: Agreement, word_scores: Dict[str, float]) -> str:
    """The agreement report as markdown."""
    name_a, name_b = folders[0].name, folders[1].name
    lines = [f"# Annotator agreement: {name_a} vs {name_b}", "", "Generated by:", "", f"```\n{command}\n```", ""]
    lines += [f"- A (reference): `{folders[0]}`", f"- B (prediction): `{folders[1]}`",
              f"- Scheme: {scheme.name} ({', '.join(scheme.labels)})",
              f"- Pairs (by PMID): {len(pairing.pairs)}; entities A {total.n_entities[0]}, B {total.n_entities[1]}; "
              f"statements A {total.n_links[0]}, B {total.n_links[1]}"]
    for side, files in (("A", pairing.only_a), ("B", pairing.only_b)):
        lines.append(f"- Unpaired in {side}: " + (", ".join(f"`{p.name}`" for p in files) if files else "none"))
    lines += ["", "## Entities", ""]
    lines += md_table(["Category", "A", "B", "Strict match", "Strict P", "Strict R", "Strict F1",
                    "Overlap match", "Overlap P", "Overlap R", "Overlap F1"], entity_rows(total))
    lines += ["", "## Values on matched entities", ""]
    lines += md_table(["Category", "Field", "Strict n", "Agree", "Accuracy", "Kappa",
                    "Overlap n", "Agree", "Accuracy", "Kappa"], value_rows(total))
    both = Counts()  # only abstracts where both annotators linked something
    for doc in per_doc.values():
        if min(doc.n_links) > 0:
            both.add(doc.links)
    n_both = sum(min(doc.n_links) > 0 for doc in per_doc.values())
    lines += ["", "## Statements (exact, all members identical)", ""]
    lines += md_table(["Abstracts", "A statements", "B statements", "Matched", "P", "R", "F1"], [
        [f"all {len(per_doc)}", *link_row(total.links)],
        [f"{n_both} where both annotators marked statements", *link_row(both)],
    ])
    lines += ["", "## Word-level agreement (older formula)", ""]
    lines += md_table(["Field", "Words", "Matched", "n_A", "n_B", "Agreement"],
                   [[f"**{k}**" if k == ALL else k, c.words, c.matched, c.n_a, c.n_b, fmt(c.agreement)] for k, c in total.words.items()])
    lines += ["", "## Word-level F1 as the models are scored", "",
              "B against A with `fgen.scoring.word_scores`, the `words_<head>_f` of scripts/evaluate.py and the "
              "benchmarks (the category head is the old project's word-level F1), so a model's score reads "
              "directly against what two annotators reach.", ""]
    lines += md_table(["Head", "P", "R", "F1"], model_word_rows(word_scores))
    lines += ["", "## Per abstract", ""]
    rows = []
    for pmid, path_a, _ in pairing.pairs:
        doc = per_doc[pmid]
        rows.append([pmid, f"`{path_a.name}`", doc.n_entities[0], doc.n_entities[1], fmt(doc.strict_total.f1),
                     fmt(doc.overlap_total.f1), f"{doc.links.tp}/{doc.n_links[0]}/{doc.n_links[1]}", fmt(doc.words[ALL].agreement)])
    lines += md_table(["PMID", "File A", "A ents", "B ents", "Strict F1", "Overlap F1", "Statements matched/A/B", "Word-level"], rows)
    return "\n".join(lines + ["", METHOD])


def read_all(paths: Sequence[Path], scheme: Scheme) -> Tuple[Dict[Path, MaeDocument], List[MaeError]]:
    docs, errors = {}, []
    for path in paths:
        try:
            docs[path] = read_mae(path, scheme)
        except MaeError as err:
            errors.append(err)
        except OSError as err:
            errors.append(MaeError(path, f"cannot read: {err.strerror or err}"))
    return docs, errors


@app.command()
def main(
    folder_a: Path = typer.Argument(..., help="Reference annotator's MAE folder (or file)"),
    folder_b: Path = typer.Argument(..., help="Other annotator's MAE folder (or file)"),
    scheme: str = typer.Option("v2", "--scheme", "-s", help="Annotation scheme: v2 or v1"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with tag_categories*.json (default: found above the inputs)"),
    output: Path = typer.Option(..., "--output", "-o", help="Markdown report to write"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write all numbers as JSON here"),
) -> None:
    """Entity, value, link and word-level agreement between two annotators."""
    command = "python " + " ".join(shlex.quote(arg) for arg in sys.argv)
    defs_dir = definitions or find_definitions_dir([folder_a, folder_b], scheme)
    if defs_dir is None:
        msg.fail(f"No scheme definition files for {scheme} found above the inputs; pass --definitions", exits=2)
    try:
        schema = load_scheme(defs_dir, scheme)
        files_a, files_b = collect_files([folder_a]), collect_files([folder_b])
        pairing = pair_by_pmid(files_a, files_b)
    except (FileNotFoundError, ValueError) as err:
        msg.fail(str(err), exits=2)
    docs, errors = read_all([*files_a, *files_b], schema)
    for err in errors:
        msg.fail(str(err))
    if errors:
        msg.fail(f"{len(errors)} invalid file(s): nothing written", exits=1)
    for other, files in (("B", pairing.only_a), ("A", pairing.only_b)):
        for path in files:
            pmid = pmid_of(path)
            msg.warn(f"{path}: unpaired ({f'no file with PMID {pmid} in {other}' if pmid else 'no PMID in its name'})")
    if not pairing.pairs:
        msg.fail("No files pair up by PMID: nothing to compare", exits=1)
    per_doc, total = {}, Agreement()
    for pmid, path_a, path_b in pairing.pairs:
        try:
            per_doc[pmid] = compare_documents(docs[path_a], docs[path_b], schema)
        except ValueError as err:
            msg.fail(f"{path_b}: {err} (vs {path_a})", exits=1)
        total.add(per_doc[pmid])
    word_scores = model_word_scores([(docs[a], docs[b]) for _, a, b in pairing.pairs], schema)
    write_bytes_atomic(output, render(command, (folder_a, folder_b), schema, pairing, per_doc, total, word_scores).encode("utf8"))
    if json_path is not None:
        data = {
            "command": command, "scheme": schema.name, "folder_a": str(folder_a), "folder_b": str(folder_b),
            "unpaired_a": [str(p) for p in pairing.only_a], "unpaired_b": [str(p) for p in pairing.only_b],
            "total": total.to_dict(), "model_word_scores": word_scores,
            "documents": [{"pmid": pmid, "file_a": str(a), "file_b": str(b), **per_doc[pmid].to_dict()} for pmid, a, b in pairing.pairs],
        }
        write_bytes_atomic(json_path, srsly.json_dumps(data, indent=2).encode("utf8"))
    strict, overlap = total.strict_total, total.overlap_total
    msg.good(f"{len(pairing.pairs)} pairs: strict F1 {fmt(strict.f1)}, overlap F1 {fmt(overlap.f1)}, "
             f"statement F1 {fmt(total.links.f1)}, word-level {fmt(total.words[ALL].agreement)} (older formula), "
             f"word-level category F1 {fmt(word_scores['words_category_f'])} (as models are scored); wrote {output}")


if __name__ == "__main__":
    app()

"""Seeded train/dev split, k folds and link-training subsets of an fgen DocBin.

Rules (all deterministic: the same input, seed and options give byte-identical files):

- Groups: every split keeps whole groups. A group is all docs of one PMID; docs without a
  PMID are grouped by provenance `source` (file name), docs without provenance by text hash.
- Strata: each group falls in one stratum, in this order: "linked" (links were annotated for
  a doc of it), "entities" (has entities), "empty" (no entities). Splits are stratified so
  link-annotated and empty abstracts are spread proportionally over train/dev and the folds.
- Order: within a stratum, groups are ordered by sha256("{seed}:{purpose}:{group key}"), so
  a group's place does not depend on the rest of the corpus or the Python version, and the
  dev split and the folds (different purposes) are drawn independently.
- Dev: `round(dev_fraction * docs)` docs (at least 1, leaving at least 1 for train), shared
  among strata by largest remainder; each stratum fills its quota with whole groups in order.
- Folds: over all kept docs (dev included), each group in turn goes to the fold with the
  fewest docs, then fewest groups of its stratum, then lowest index. Fold sizes therefore
  differ by at most the largest group (one doc per PMID after conversion: at most 1).
- Link subsets (`links/`): the same splits restricted to docs whose provenance says links
  were annotated (`link_docs="linked-only"`, default), so abstracts whose links were never
  annotated never serve as link negatives; `link_docs="all"` keeps every doc.
- Unannotated docs (no entities in `doc.spans["fgen"]` or `doc.ents`) are kept with every
  token marked outside (`include_unannotated=True`, default) or dropped.
- Within every file, docs keep their input order.
"""
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin

from fgen.util.atomic import atomic_directory
from fgen.doc_layout import LINKS_KEY, entity_spans, has_entities, links_annotated

STRATA = ("linked", "entities", "empty")
MANIFEST = "splits.json"


class LinkDocs(str, Enum):
    """Which docs the link-training subsets keep."""

    linked_only = "linked-only"
    all = "all"


@dataclass
class Group:
    """Docs that must stay on one side of every split (one PMID, usually one doc)."""

    key: str  # "pmid:…", "source:…" or "text:…"
    docs: List[int] = field(default_factory=list)  # indices into the doc list
    stratum: str = "empty"


@dataclass
class SplitPlan:
    """Doc indices of every output file, keyed by its path relative to the output folder."""

    files: Dict[str, List[int]]
    groups: Dict[str, Group]  # group key -> group, for the manifest
    n_dropped: int = 0


def provenance(doc: Doc) -> dict:
    return doc._.provenance or {}


def count_entities(doc: Doc) -> int:
    """Entities of `doc`; fragments of a discontinuous entity (same `span.id_`) count once."""
    spans = entity_spans(doc)
    return len({s.id_ for s in spans if s.id_}) + sum(1 for s in spans if not s.id_)


def count_links(doc: Doc) -> int:
    return len(doc.user_data.get(LINKS_KEY, []))


def group_key(doc: Doc) -> str:
    """The group of `doc`: its PMID, else its source file name, else a hash of its text."""
    prov = provenance(doc)
    if prov.get("pmid"):
        return f"pmid:{prov['pmid']}"
    if prov.get("source"):
        return f"source:{prov['source']}"
    return "text:" + hashlib.sha256(doc.text.encode("utf8")).hexdigest()[:16]


def make_groups(docs: Sequence[Doc], indices: Iterable[int]) -> List[Group]:
    """Group the docs at `indices`, sorted by key, each with its stratum."""
    groups: Dict[str, Group] = {}
    for i in indices:
        key = group_key(docs[i])
        groups.setdefault(key, Group(key)).docs.append(i)
    for group in groups.values():
        if any(links_annotated(docs[i]) for i in group.docs):
            group.stratum = "linked"
        elif any(has_entities(docs[i]) for i in group.docs):
            group.stratum = "entities"
    return sorted(groups.values(), key=lambda g: g.key)


def seeded_order(groups: Iterable[Group], seed: int, purpose: str) -> Dict[str, List[Group]]:
    """Groups per stratum (in `STRATA` order), each in its seeded hash order."""
    def rank(group: Group) -> str:
        return hashlib.sha256(f"{seed}:{purpose}:{group.key}".encode("utf8")).hexdigest()

    by_stratum: Dict[str, List[Group]] = {s: [] for s in STRATA}
    for group in groups:
        by_stratum[group.stratum].append(group)
    return {s: sorted(gs, key=rank) for s, gs in by_stratum.items()}


def _quotas(sizes: Dict[str, int], target: int) -> Dict[str, int]:
    """Share `target` among strata in proportion to `sizes` (largest remainder; ties in STRATA order)."""
    total = sum(sizes.values())
    exact = {s: target * n / total for s, n in sizes.items()}
    quota = {s: math.floor(x) for s, x in exact.items()}
    by_remainder = sorted(sizes, key=lambda s: (-(exact[s] - quota[s]), STRATA.index(s)))
    for s in by_remainder[: target - sum(quota.values())]:
        quota[s] += 1
    return quota


def split_train_dev(groups: Sequence[Group], dev_fraction: float, seed: int) -> Tuple[List[Group], List[Group]]:
    """Split groups into (train, dev) with about `dev_fraction` of the docs in dev, stratified."""
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev fraction must be between 0 and 1, not {dev_fraction}")
    if len(groups) < 2:
        raise ValueError(f"{len(groups)} group(s): a train/dev split needs at least 2 PMIDs/sources")
    n_docs = sum(len(g.docs) for g in groups)
    target = min(max(math.floor(dev_fraction * n_docs + 0.5), 1), n_docs - 1)
    ordered = seeded_order(groups, seed, "dev")
    quotas = _quotas({s: sum(len(g.docs) for g in gs) for s, gs in ordered.items()}, target)
    train, dev = [], []
    for stratum, stratum_groups in ordered.items():
        taken = 0
        for group in stratum_groups:
            if taken < quotas[stratum]:
                dev.append(group)
                taken += len(group.docs)
            else:
                train.append(group)
    if not train or not dev:
        raise ValueError("cannot split into non-empty train and dev: the groups are too large or too few")
    return train, dev


def make_folds(groups: Sequence[Group], n_folds: int, seed: int) -> List[List[Group]]:
    """Partition groups into `n_folds` folds balanced in docs and in each stratum."""
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, not {n_folds}")
    if len(groups) < n_folds:
        raise ValueError(f"{len(groups)} PMIDs/sources cannot fill {n_folds} folds")
    folds: List[List[Group]] = [[] for _ in range(n_folds)]
    n_docs = [0] * n_folds
    for stratum, stratum_groups in seeded_order(groups, seed, "folds").items():
        in_stratum = [0] * n_folds
        for group in stratum_groups:
            k = min(range(n_folds), key=lambda f: (n_docs[f], in_stratum[f], f))
            folds[k].append(group)
            n_docs[k] += len(group.docs)
            in_stratum[k] += 1
    return folds


def _indices(groups: Iterable[Group]) -> List[int]:
    return sorted(i for g in groups for i in g.docs)


def plan_splits(
    docs: Sequence[Doc],
    *,
    seed: int = 0,
    dev_fraction: float = 0.2,
    n_folds: int = 5,
    include_unannotated: bool = True,
    link_docs: Union[LinkDocs, str] = LinkDocs.linked_only,
) -> SplitPlan:
    """Decide which docs go to which file (see the module docstring for the rules).

    docs (Sequence[Doc]): the corpus, e.g. read from `scripts/convert.py` output.
    seed (int): the seed of every random choice.
    dev_fraction (float): share of docs in dev.
    n_folds (int): number of cross-validation folds; 0 writes none.
    include_unannotated (bool): keep docs without entities.
    link_docs (LinkDocs): "linked-only" or "all", the docs of the `links/` subsets.
    RETURNS (SplitPlan): doc indices per output file ("train.spacy", "folds/fold0.spacy", ...).
    """
    link_docs = LinkDocs(link_docs)
    kept = [i for i, doc in enumerate(docs) if include_unannotated or has_entities(doc)]
    groups = make_groups(docs, kept)
    train, dev = split_train_dev(groups, dev_fraction, seed)
    parts: Dict[str, List[int]] = {"train": _indices(train), "dev": _indices(dev)}
    if n_folds:
        folds = make_folds(groups, n_folds, seed)
        for k, fold in enumerate(folds):
            parts[f"folds/fold{k}"] = _indices(fold)
            parts[f"folds/train{k}"] = _indices(g for j, other in enumerate(folds) if j != k for g in other)
    keep_for_links = (lambda i: True) if link_docs == LinkDocs.all else (lambda i: links_annotated(docs[i]))
    for name, indices in list(parts.items()):
        parts[f"links/{name.split('/')[-1]}"] = [i for i in indices if keep_for_links(i)]
    files = {f"{name}.spacy": indices for name, indices in parts.items()}
    return SplitPlan(files, {g.key: g for g in groups}, len(docs) - len(kept))


def mark_outside(doc: Doc) -> Doc:
    """Make an unannotated doc explicit: no entities, every token outside."""
    if not has_entities(doc):
        doc.set_ents([], default="outside")
    return doc


def split_stats(docs: Sequence[Doc], indices: Sequence[int]) -> dict:
    """PMIDs, other sources and counts of the docs at `indices`."""
    keys = sorted({group_key(docs[i]) for i in indices})
    return {
        "docs": len(indices),
        "groups": len(keys),
        "entities": sum(count_entities(docs[i]) for i in indices),
        "links": sum(count_links(docs[i]) for i in indices),
        "links_annotated_docs": sum(links_annotated(docs[i]) for i in indices),
        "empty_docs": sum(not has_entities(docs[i]) for i in indices),
        "pmids": [k.split(":", 1)[1] for k in keys if k.startswith("pmid:")],
        "sources": [k for k in keys if not k.startswith("pmid:")],
    }


def build_manifest(docs: Sequence[Doc], plan: SplitPlan, options: dict, input_info: Optional[dict] = None) -> dict:
    """The `splits.json` content: options, input, strata and per-file stats."""
    return {
        "input": input_info or {},
        "options": options,
        "docs_in": len(docs),
        "docs_dropped_unannotated": plan.n_dropped,
        "strata": dict(sorted(Counter(g.stratum for g in plan.groups.values()).items())),
        "splits": {name: split_stats(docs, indices) for name, indices in plan.files.items()},
    }


def check_output_dir(output_dir: Path, input_path: Optional[Path] = None) -> None:
    """Refuse to replace a folder that is not an earlier split output, or that holds the input."""
    output_dir = Path(output_dir)
    if output_dir.exists():
        if not output_dir.is_dir():
            raise ValueError(f"{output_dir} exists and is not a folder")
        if any(output_dir.iterdir()) and not (output_dir / MANIFEST).exists():
            raise ValueError(f"{output_dir} is not empty and holds no {MANIFEST}: refusing to replace it")
    if input_path is not None and output_dir.resolve() in Path(input_path).resolve().parents:
        raise ValueError(f"the input {input_path} lies inside the output folder {output_dir}")


def write_splits(docs: Sequence[Doc], plan: SplitPlan, output_dir: Union[str, Path], manifest: dict) -> None:
    """Write every file of `plan` and `splits.json`; `output_dir` is replaced all at once."""
    used = sorted({i for indices in plan.files.values() for i in indices})
    for i in used:
        mark_outside(docs[i])
    # Each doc is serialized once and merged into every file that holds it (a doc is in several
    # files, and serializing a doc costs far more than merging it).
    single = {i: DocBin(store_user_data=True, docs=[docs[i]]) for i in used}
    with atomic_directory(output_dir) as tmp:
        for name, indices in plan.files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            merged = DocBin(store_user_data=True)
            for i in indices:
                merged.merge(single[i])
            path.write_bytes(merged.to_bytes())
        (tmp / MANIFEST).write_text(srsly.json_dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf8")

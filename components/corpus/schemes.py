"""Annotation schemes (V1, V2) read from the corpus definition files.

A scheme is never written in code: categories, their value attributes, the allowed
values and the link roles all come from `tag_categories*.json` and
`tag_list_definitions*.json` next to `raw_data/` in the corpus.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

import spacy
import srsly

LINK_TAG = "ENTITY_LINKING"
# kb_id of an entity with several value attributes (V1): values joined in field order.
VALUE_SEPARATOR = "|"
SCHEME_FILES = {
    "v1": ("tag_categories.json", "tag_list_definitions.json"),
    "v2": ("tag_categories_v2.json", "tag_list_definitions_v2.json"),
}


@dataclass(frozen=True)
class ValueField:
    """One value attribute of a category, e.g. `perturbing_action` stored as `perturbingaction`."""

    name: str
    mae_attr: str
    values: Tuple[str, ...]


@dataclass(frozen=True)
class Category:
    """An entity category (a MAE tag) with its value fields and its link role."""

    label: str
    fields: Tuple[ValueField, ...]
    link_id_attr: str
    id_prefix: str

    @property
    def link_text_attr(self) -> str:
        return self.link_id_attr[: -len("ID")] + "Text"

    def join_values(self, values: Dict[str, str]) -> str:
        """Encode the field values of one entity as the span's kb_id."""
        return VALUE_SEPARATOR.join(values[f.name] for f in self.fields)

    def split_values(self, kb_id: str) -> Dict[str, str]:
        """Decode a kb_id made by `join_values` back to {field name: value}."""
        parts = kb_id.split(VALUE_SEPARATOR) if self.fields else []
        if len(parts) != len(self.fields):
            raise ValueError(
                f"kb_id {kb_id!r} of {self.label} does not hold {len(self.fields)} value(s) "
                f"separated by {VALUE_SEPARATOR!r}"
            )
        return {f.name: value for f, value in zip(self.fields, parts)}


@dataclass(frozen=True)
class Scheme:
    """A whole annotation scheme: categories in definition order plus the link tag."""

    name: str
    categories: Tuple[Category, ...]
    link_tag: str = LINK_TAG
    source: Optional[str] = field(default=None, compare=False)

    @property
    def labels(self) -> List[str]:
        return [c.label for c in self.categories]

    def category(self, label: str) -> Category:
        for cat in self.categories:
            if cat.label == label:
                return cat
        raise KeyError(f"{label!r} is not a category of scheme {self.name} ({', '.join(self.labels)})")

    def role_of_link_attr(self) -> Dict[str, Category]:
        return {c.link_id_attr: c for c in self.categories}


def _id_prefixes(labels: Iterable[str]) -> Dict[str, str]:
    """Shortest prefix of each label not used by an earlier label (P, C, E, PH in V2, as MAE does)."""
    taken: Dict[str, str] = {}
    for label in labels:
        for n in range(1, len(label) + 1):
            if label[:n] not in taken.values():
                taken[label] = label[:n]
                break
    return taken


def scheme_from_definitions(name: str, categories_json: dict, values_json: dict) -> Scheme:
    """Build a Scheme from the parsed JSON of the two definition files."""
    prefixes = _id_prefixes(categories_json)
    categories = []
    for label, spec in categories_json.items():
        fields = tuple(
            ValueField(
                name=fname,
                mae_attr=fspec["mae_field"].lstrip("@"),
                values=tuple(values_json.get(fname, ())),
            )
            for fname, fspec in spec.get("fields", {}).items()
        )
        link_attr = spec["entity_linking_field"].lstrip("@")
        categories.append(Category(label, fields, link_attr, prefixes[label]))
    listed = values_json.get("category")
    if listed is not None and set(listed) != set(categories_json):
        raise ValueError(f"category list {listed} does not match the categories {list(categories_json)}")
    return Scheme(name=name, categories=tuple(categories))


def load_scheme(definitions_dir: Path, name: str) -> Scheme:
    """Load scheme `name` ("v1" or "v2") from the folder holding the definition files.

    definitions_dir (Path): the corpus root, e.g. `../shared/fgen-corpus`.
    name (str): "v1" or "v2".
    RETURNS (Scheme): the scheme.
    """
    key = name.lower()
    if key not in SCHEME_FILES:
        raise ValueError(f"Unknown scheme {name!r}: choose one of {', '.join(SCHEME_FILES)}")
    cat_file, val_file = (Path(definitions_dir) / f for f in SCHEME_FILES[key])
    for path in (cat_file, val_file):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: scheme definition file not found")
    scheme = scheme_from_definitions(key, srsly.read_json(cat_file), srsly.read_json(val_file))
    return Scheme(name=scheme.name, categories=scheme.categories, source=str(definitions_dir))


def find_definitions_dir(paths: Iterable[Path], name: str) -> Optional[Path]:
    """Walk up from the given inputs to the first folder that holds scheme `name`'s files."""
    wanted = SCHEME_FILES[name.lower()][0]
    for path in paths:
        for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
            if (folder / wanted).is_file():
                return folder
    return None


@spacy.registry.misc("fgen.labels_from_definitions.v1")
def labels_from_definitions(path: Union[str, Path], scheme: str = "v2") -> List[str]:
    """The entity labels (categories, in definition order) of a scheme's definition files.

    path (str / Path): the folder holding tag_categories*.json and tag_list_definitions*.json.
    scheme (str): "v1" or "v2".
    RETURNS (List[str]): the labels, e.g. for `nlp.initialize` / `[initialize.components.*.labels]`.
    """
    return load_scheme(Path(path), scheme).labels

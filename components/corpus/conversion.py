"""MAE folders -> validated, de-duplicated Docs with provenance.

Provenance comes from the file name (`NNN_PMID12345.txt_CC2.xml`: PMID 12345, annotator CC2)
and the folder (`... Marked and Linked ...`: links were annotated for this abstract).

De-duplication rule: one Doc per PMID (files without a PMID are keyed by their name). When
the same abstract occurs several times among the inputs, keep the copy with the most
annotation work: links annotated > more entities > more links > lying in a "Marked and
Linked" folder; remaining ties go to the first path in sorted order. Identical copies (the agreement set repeats V2 files) are dropped silently in
the same way; every dropped file is listed in the conversion report.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from fgen.formats.mae import MaeDocument, MaeError, read_mae
from fgen.formats.mae_doc import SpanIssue, mae_to_doc
from fgen.corpus.schemes import Scheme

_PMID_RE = re.compile(r"PMI?D?S?_?(\d{5,9})", re.IGNORECASE)
_ANNOTATOR_RE = re.compile(r"\.txt_(?:(\d+)_)?([A-Za-z][A-Za-z0-9]*)\.xml$", re.IGNORECASE)
LINKED_FOLDER_RE = re.compile(r"marked and linked", re.IGNORECASE)


def collect_files(inputs: Iterable[Path]) -> List[Path]:
    """MAE files among `inputs`: files as given, folders searched recursively for `*.xml`."""
    found = []
    for path in map(Path, inputs):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".xml"))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def pmid_of(path: Path) -> Optional[str]:
    """The PubMed id in a MAE file name (`552_PMID29058102.txt_HZ.xml` -> "29058102"), or None."""
    match = _PMID_RE.search(Path(path).name)
    return match.group(1) if match else None


def provenance_for(path: Path, scheme: Scheme, record: MaeDocument, linked_re: re.Pattern = LINKED_FOLDER_RE) -> Dict:
    """Provenance of one file: pmid, source, annotator, revision, scheme, folder, links_annotated."""
    annotator = _ANNOTATOR_RE.search(path.name)
    folder = path.parent.name
    return {
        "pmid": pmid_of(path),
        "source": path.name,
        "folder": folder,
        "annotator": annotator.group(2) if annotator else None,
        "revision": annotator.group(1) if annotator and annotator.group(1) else None,
        "scheme": scheme.name,
        # A file holding links was link-annotated wherever it lies.
        "links_annotated": bool(linked_re.search(folder)) or bool(record.links),
    }


@dataclass
class SourceFile:
    path: Path
    record: MaeDocument
    provenance: Dict
    linked_by_folder: bool

    @property
    def key(self) -> str:
        return self.provenance["pmid"] or self.path.name

    @property
    def rank(self) -> Tuple:
        return (
            not self.provenance["links_annotated"],
            -len(self.record.entities),
            -len(self.record.links),
            not self.linked_by_folder,  # among identical copies, keep the one in the scheme's own folder
            str(self.path),
        )


@dataclass
class ConversionResult:
    """What a conversion produced and everything the report needs."""

    docs: List[Doc] = field(default_factory=list)
    errors: List[MaeError] = field(default_factory=list)
    duplicates: List[Tuple[str, str]] = field(default_factory=list)  # (dropped path, kept path)
    forced_spans: List[Tuple[str, SpanIssue]] = field(default_factory=list)  # (source path, issue)
    warnings: List[Tuple[str, str]] = field(default_factory=list)  # (source path, message)
    n_files: int = 0
    n_spans: int = 0


def read_candidates(paths: Sequence[Path], scheme: Scheme, result: ConversionResult, linked_re: re.Pattern) -> List[SourceFile]:
    """Parse every file; failures go to `result.errors`."""
    candidates = []
    for path in paths:
        result.n_files += 1
        try:
            record = read_mae(path, scheme)
        except MaeError as err:
            result.errors.append(err)
            continue
        except OSError as err:
            result.errors.append(MaeError(path, f"cannot read: {err.strerror or err}"))
            continue
        provenance = provenance_for(path, scheme, record, linked_re)
        candidates.append(SourceFile(path, record, provenance, bool(linked_re.search(path.parent.name))))
    return candidates


def deduplicate(candidates: Iterable[SourceFile]) -> Tuple[List[SourceFile], List[Tuple[str, str]]]:
    """One candidate per abstract (see the module docstring); returns (kept, [(dropped, kept)])."""
    groups: Dict[str, List[SourceFile]] = {}
    for cand in candidates:
        groups.setdefault(cand.key, []).append(cand)
    kept, dropped = [], []
    for group in groups.values():
        best = min(group, key=lambda c: c.rank)
        kept.append(best)
        dropped += [(str(c.path), str(best.path)) for c in group if c is not best]
    kept.sort(key=lambda c: str(c.path))
    return kept, dropped


def convert_paths(
    inputs: Iterable[Path],
    scheme: Scheme,
    nlp: Language,
    linked_re: Optional[re.Pattern] = None,
) -> ConversionResult:
    """Read, validate, de-duplicate and convert MAE files to Docs.

    inputs (Iterable[Path]): MAE files or folders (searched recursively).
    scheme (Scheme): scheme to validate against.
    nlp (Language): tokenizer source (`fgen.corpus.tokenizer.make_nlp()`).
    linked_re (Pattern): folder names whose abstracts had their links annotated.
    RETURNS (ConversionResult): Docs of the valid files, errors of the others, and report data.
    """
    result = ConversionResult()
    candidates = read_candidates(collect_files(inputs), scheme, result, linked_re or LINKED_FOLDER_RE)
    kept, result.duplicates = deduplicate(candidates)
    for cand in kept:
        conversion = mae_to_doc(nlp, cand.record, scheme, cand.provenance)
        result.docs.append(conversion.doc)
        result.n_spans += sum(len(e.fragments) for e in cand.record.entities)
        result.forced_spans += [(str(cand.path), issue) for issue in conversion.forced_spans]
        result.warnings += [(str(cand.path), message) for message in cand.record.warnings]
    return result

"""Adding newly annotated or corrected MAE files to the project's corpus, one version per PMID.

The corpus under `../shared` is read-only, so new annotations live in a project folder (`ADDED`,
`annotations/v2`) that `convert-v2` reads with the corpus folders. Each new file is converted
on its own (`fgen.corpus.conversion.convert_paths`: what `scripts/convert.py` accepts) and
compared by PMID, from its file name, with the corpus and the folder:

- `new`: no version of that PMID anywhere: copied into the folder;
- `same`: the same text, entities, values and statements are there already: nothing to do;
- `replaced`: a different version lies in the folder itself, and `replace` was asked for (a
  correction of the team's own earlier addition): the old file gives way to the new one;
- `conflict`: a different version lies in the read-only corpus, or in the folder without
  `replace`, or twice among the new files: reported with both versions' sizes, never written;
- `invalid`: the file does not convert, or its name holds no PMID.

Nothing is written when any file is a conflict or invalid, unless `skip_problems`: then the
good ones are. Files are copied byte for byte, each written atomically.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from fgen.corpus.conversion import collect_files, convert_paths, pmid_of
from fgen.corpus.schemes import Scheme
from fgen.corpus.tokenizer import make_nlp
from fgen.doc_layout import entity_spans, get_links
from fgen.util.atomic import write_bytes_atomic

ADDED = Path("annotations") / "v2"
WRITTEN = ("new", "replaced")


@dataclass
class Addition:
    """What became of one new file: `status` (see the module docstring) and why."""

    path: Path
    pmid: Optional[str]
    status: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.status}" + (f" ({self.detail})" if self.detail else "")


def annotation_key(doc: Doc) -> Tuple:
    """What two versions of an abstract must share to be the same: text, entities with values, statements."""
    ents = tuple(sorted((s.start_char, s.end_char, s.label_, s.kb_id_) for s in entity_spans(doc)))
    links = tuple(sorted(tuple(sorted((role, s.start_char, s.end_char) for role, s in link.items())) for link in get_links(doc)))
    return doc.text, ents, links


def _size(doc: Doc) -> str:
    return f"{len(entity_spans(doc))} entities, {len(get_links(doc))} statements"


def _by_pmid(paths: Iterable[Path], scheme: Scheme, nlp: Language) -> Dict[str, Tuple[Path, Doc]]:
    """Each PMID's converted doc among the MAE files under `paths` (the one conversion keeps)."""
    files = collect_files([p for p in paths if Path(p).exists()])
    result = convert_paths(files, scheme, nlp)
    return {d._.provenance["pmid"]: (Path(d._.provenance["source"]), d) for d in result.docs if d._.provenance.get("pmid")}


def plan_additions(new: Sequence[Path], scheme: Scheme, corpus: Sequence[Path], added: Path = ADDED,
                   replace: bool = False) -> List[Addition]:
    """The status of every MAE file under `new` against `corpus` (read-only) and `added`."""
    nlp = make_nlp()  # one tokenizer for every conversion: building it is what costs
    in_corpus, in_added = _by_pmid(corpus, scheme, nlp), _by_pmid([added], scheme, nlp)
    added_files = {pmid_of(p): p for p in collect_files([added])} if Path(added).exists() else {}
    plan: List[Addition] = []
    seen: Dict[str, Tuple[Path, Doc]] = {}
    for path in collect_files(new):
        pmid = pmid_of(path)
        if pmid is None:
            plan.append(Addition(path, None, "invalid", "no PMID in the file name (e.g. 12_PMID12345678.txt_AB.xml)"))
            continue
        converted = convert_paths([path], scheme, nlp)
        if converted.errors or not converted.docs:
            reason = converted.errors[0].reason if converted.errors else "nothing converted"
            plan.append(Addition(path, pmid, "invalid", str(reason)))
            continue
        doc = converted.docs[0]
        key = annotation_key(doc)
        if pmid in seen:
            plan.append(Addition(path, pmid, "conflict", f"PMID {pmid} also in {seen[pmid][0]} among the new files"))
            continue
        seen[pmid] = (path, doc)
        if pmid in in_corpus:
            source, old = in_corpus[pmid]
            same = annotation_key(old) == key
            plan.append(Addition(path, pmid, "same" if same else "conflict",
                                 f"in the corpus as {source.name}" + ("" if same else f": {_size(old)} there, {_size(doc)} here")))
        elif pmid in in_added:
            source, old = in_added[pmid]
            if annotation_key(old) == key:
                plan.append(Addition(path, pmid, "same", f"added before as {source.name}"))
            elif replace:
                plan.append(Addition(path, pmid, "replaced", f"{added_files.get(pmid, source).name}: {_size(old)}, now {_size(doc)}"))
            else:
                plan.append(Addition(path, pmid, "conflict", f"added before as {source.name}: {_size(old)} there, {_size(doc)} here (--replace to take the new one)"))
        else:
            plan.append(Addition(path, pmid, "new", _size(doc)))
    return plan


def apply_additions(plan: Sequence[Addition], added: Path = ADDED) -> int:
    """Copy the `new` and `replaced` files of `plan` into `added` (a replaced PMID's old file
    removed). RETURNS (int): the number of files written."""
    added = Path(added)
    added.mkdir(parents=True, exist_ok=True)
    old = {pmid_of(p): p for p in collect_files([added])}
    written = 0
    for item in plan:
        if item.status not in WRITTEN:
            continue
        target = added / item.path.name
        write_bytes_atomic(target, item.path.read_bytes())
        previous = old.get(item.pmid)
        if previous is not None and previous.resolve() != target.resolve():
            previous.unlink()
        written += 1
    return written


def add_annotations(new: Union[Path, Sequence[Path]], scheme: Scheme, corpus: Sequence[Path], added: Path = ADDED,
                    replace: bool = False, skip_problems: bool = False) -> Tuple[List[Addition], int]:
    """Plan and, unless a file is a conflict or invalid (or `skip_problems`), apply the additions.

    RETURNS (Tuple[List[Addition], int]): every file's status and the number of files written.
    """
    plan = plan_additions([new] if isinstance(new, (str, Path)) else list(new), scheme, corpus, added, replace)
    problems = [a for a in plan if a.status in ("conflict", "invalid")]
    if problems and not skip_problems:
        return plan, 0
    return plan, apply_additions(plan, added)

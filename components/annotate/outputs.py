"""Writing annotated docs from annotate's journal: a file in one of `fgen.formats.writers`'
formats (JSONL, HTML, DocBin, BioC XML/JSON, PubTator), or a folder of MAE XML files (replaced as
a whole, with the marker of `fgen.annotate.output_location`)."""
from pathlib import Path
from typing import Iterable, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from fgen.annotate.inputs import AnnotateError
from fgen.annotate.journal import read_journal
from fgen.annotate.output_location import foreign_entries, refuse_changed_entries, write_output_marker
from fgen.corpus.schemes import SCHEME_FILES, Scheme, find_definitions_dir, load_scheme
from fgen.formats.mae_doc import mae_file_content, safe_file_name
from fgen.formats.writers import FILE_WRITERS, FORMAT_OF_SUFFIX, write_file
from fgen.util.atomic import atomic_directory

FORMATS = ("jsonl", "mae", "html", "spacy", "bioc-xml", "bioc-json", "pubtator")
# The folder of a pipeline that holds its scheme definition files (scripts/package.py adds it).
DEFINITIONS_FOLDER = "definitions"


def output_format(output: Union[str, Path], fmt: Optional[str] = None) -> str:
    """The output format: `fmt` when given, else from OUTPUT's suffix (`FORMAT_OF_SUFFIX`:
    `.jsonl`, `.html`, `.spacy`, `.xml` BioC XML, `.json` BioC JSON, `.pubtator`; a folder or no
    suffix: `mae`).

    RAISES (AnnotateError): for an unknown format or suffix, or OUTPUT of the wrong kind.
    """
    output = Path(output)
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise AnnotateError(f"{output}: unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    elif output.is_dir() or not output.suffix:
        fmt = "mae"
    elif output.suffix.lower() in FORMAT_OF_SUFFIX:
        fmt = FORMAT_OF_SUFFIX[output.suffix.lower()]
    else:
        raise AnnotateError(f"{output}: unsupported output suffix {output.suffix!r} (use {', '.join(FORMAT_OF_SUFFIX)}, a folder, or --format)")
    if fmt == "mae" and output.exists() and not output.is_dir():
        raise AnnotateError(f"{output}: exists and is not a folder (MAE output is a folder of files)")
    if fmt != "mae" and output.is_dir():
        raise AnnotateError(f"{output}: is a folder, not a {fmt} file")
    return fmt


def write_mae_folder(named_contents: Iterable[Tuple[str, str]], path: Union[str, Path], tool: str) -> int:
    """Write (file name, XML) pairs as the folder `path`, replaced as a whole, with the marker
    that lets a later run of `tool` replace it again.

    RAISES (AnnotateError): the folder holds files fgen did not write, or files changed since
        fgen wrote them (corrections: nothing is written then); two files would get the same name.
    """
    path = Path(path)
    if path.is_dir():
        foreign = foreign_entries(path)
        if foreign:
            raise AnnotateError(f"{path}: the folder holds files fgen did not write ({', '.join(foreign[:3])}); nothing was written")
        refuse_changed_entries(path)
    names: Set[str] = set()
    with atomic_directory(path) as tmp:
        for name, content in named_contents:
            if name.lower() in names:
                raise AnnotateError(f"{path}: two docs would both be written as {name}")
            names.add(name.lower())
            (tmp / name).write_text(content, encoding="utf8", newline="")
        write_output_marker(tmp, tool, [p.name for p in tmp.iterdir()])
    return len(names)


def write_mae(docs: Iterable[Tuple[str, Doc]], path: Union[str, Path], scheme: Scheme) -> int:
    """Write one MAE XML file per doc (`<safe id>.xml`) into the folder `path`, replaced as a
    whole (see `write_mae_folder`).

    RAISES (AnnotateError): when a doc does not fit the scheme (nothing is written then).
    """
    taken: Set[str] = set()
    named = ((safe_file_name(doc_id, taken), mae_file_content(doc, doc_id, scheme)) for doc_id, doc in docs)
    return write_mae_folder(named, path, "fgen annotate")


def render_output(journal: Union[str, Path], output: Union[str, Path], fmt: str, vocab: Vocab, scheme: Optional[Scheme] = None) -> int:
    """Write the final output from the journal's docs, atomically; returns the number of docs."""
    docs = read_journal(journal, vocab)
    if fmt in FILE_WRITERS:
        return write_file(fmt, docs, output, lang=vocab.lang or "en")
    if fmt == "mae":
        if scheme is None:
            raise AnnotateError(f"{output}: MAE output needs a scheme")
        return write_mae(docs, output, scheme)
    raise AnnotateError(f"{output}: unknown format {fmt!r}")


def resolve_scheme(
    name: Optional[str], definitions: Optional[Path] = None, nlp: Optional[Language] = None, search_from: Sequence[Path] = ()
) -> Scheme:
    """The scheme for MAE output: from `definitions`, else the pipeline's own `DEFINITIONS_FOLDER`
    (a packaged pipeline ships it), else its `paths.definitions`, else the first folder holding
    its files above `search_from`. The name defaults to the scheme
    `fgen_values` was initialized with, else "v2".

    RAISES (AnnotateError): when no definition files are found.
    """
    config = nlp.config if nlp is not None else {}
    if name is None:
        name = config.get("initialize", {}).get("components", {}).get("fgen_values", {}).get("scheme") or "v2"
    if name.lower() not in SCHEME_FILES:
        raise AnnotateError(f"{name}: unknown scheme (choose {', '.join(SCHEME_FILES)})")
    folder = definitions
    if folder is None:
        trained_with = config.get("paths", {}).get("definitions")
        candidates = [Path(trained_with)] if trained_with else []
        if nlp is not None and nlp.path is not None:  # shipped with a packaged pipeline
            candidates.insert(0, Path(nlp.path) / DEFINITIONS_FOLDER)
        folder = find_definitions_dir([*candidates, *search_from], name)
    if folder is None:
        raise AnnotateError(f"scheme {name}: no definition files found (MAE output needs them): pass --definitions DIR")
    try:
        return load_scheme(Path(folder), name)
    except (FileNotFoundError, ValueError) as err:
        raise AnnotateError(str(err)) from err

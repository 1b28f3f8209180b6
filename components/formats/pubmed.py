"""Reading PubMed XML the way PubMed ships it: `PubmedArticleSet` files, plain (`.xml`) or gzipped
(`.xml.gz`, decompressed as it is parsed), as in the annual baseline and the daily updates.

Every child of the root becomes one item: a `PubmedArticle` with an abstract a `Record`; one
without an abstract, a `PubmedBookArticle` or a `DeleteCitation` block a `Problem` naming the
reason, so a run counts them among the skipped and says why. Problems that stop the reading of a
file (malformed XML, corrupt gzip data, another root element) are `FileProblem`s: the records
before them were read, the rest of the file was not.
"""
import gzip
import zlib
from pathlib import Path
from typing import IO, Iterator, Optional, Tuple, Union
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fgen.formats.records import DeletedCitations, FileProblem, Item, Passage, Problem, Record


NO_ABSTRACT = "no abstract, skipped"
BOOK_ARTICLE = "book article (PubmedBookArticle), skipped"
# PMIDs shown in a DeleteCitation problem's reason; all of them are in `DeletedCitations.pmids`.
SHOWN_PMIDS = 5


def open_binary(path: Path) -> IO[bytes]:
    """`path` opened for reading bytes; a `.gz` file is decompressed while it is read."""
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _all_text(el: Optional[Element]) -> str:
    # itertext keeps the text inside inline markup (<i>, <sup>, ...).
    return "".join(el.itertext()).strip() if el is not None else ""


def _section_text(part: Element) -> Tuple[str, str]:
    # A structured abstract labels its parts (BACKGROUND, METHODS, ...), as PubMed shows them.
    text, label = _all_text(part), (part.get("Label") or "").strip()
    return (f"{label}: {text}" if text and label else text), label


def _article_item(el: Element, position: str) -> Item:
    pmid = (el.findtext("MedlineCitation/PMID") or "").strip()
    if not pmid:
        return Problem(position, "no PMID")
    article = el.find("MedlineCitation/Article")
    if article is None:
        return Problem(position, f"PMID {pmid}: no <Article>")
    abstract = [(text, label) for text, label in map(_section_text, article.findall("Abstract/AbstractText")) if text]
    if not abstract:
        return Problem(position, f"PMID {pmid}: {NO_ABSTRACT}")
    title = _all_text(article.find("ArticleTitle"))
    parts = ([("title", title, ())] if title else []) + [("abstract", text, label) for text, label in abstract]
    passages, offset = [], 0
    for kind, text, label in parts:  # one line each: a passage's offset is where its line starts
        passages.append(Passage(offset, len(text), kind, (("section", label),) if label else ()))
        offset += len(text) + 1
    return Record(pmid, "\n".join(text for _, text, _ in parts), position, pmid=pmid, passages=tuple(passages))


def _book_problem(el: Element, position: str) -> Problem:
    pmid = (el.findtext("BookDocument/PMID") or "").strip()
    return Problem(position, f"PMID {pmid}: {BOOK_ARTICLE}" if pmid else BOOK_ARTICLE)


def _deleted(el: Element, path: Path) -> DeletedCitations:
    pmids = tuple(p.text.strip() for p in el.findall("PMID") if p.text and p.text.strip())
    shown = ", ".join(pmids[:SHOWN_PMIDS]) + (", ..." if len(pmids) > SHOWN_PMIDS else "")
    reason = f"DeleteCitation of {len(pmids)} PMIDs ({shown}): remove them from earlier outputs"
    return DeletedCitations(str(path), reason, pmids=pmids)


def read_pubmed_xml(path: Union[str, Path]) -> Iterator[Item]:
    """Items of a PubMed XML file (`PubmedArticleSet`, `.xml` or `.xml.gz`), streamed: a Record
    per article with an abstract (text = ArticleTitle and the AbstractText parts, one per line,
    a part's Label before it; id = PMID), a Problem per article without one, per book article
    and per DeleteCitation block (`DeletedCitations`). Parsed with defusedxml; every child of
    the root is cleared once read, so memory stays constant. A syntax error or corrupt gzip data
    ends the file with a FileProblem; the records before it are kept.

    RAISES (OSError): the file cannot be opened or read.
    """
    path = Path(path)
    root: Optional[Element] = None
    depth = count = 0
    try:
        with open_binary(path) as handle:
            for event, el in SafeET.iterparse(handle, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if root is None:
                        root = el
                        if el.tag != "PubmedArticleSet":
                            yield FileProblem(str(path), f"not a PubMed XML file (root element <{el.tag}>)")
                            return
                    continue
                depth -= 1
                if depth == 1:  # a child of the root is complete
                    if el.tag in ("PubmedArticle", "PubmedBookArticle"):
                        count += 1
                        position = f"{path}: article {count}"
                        yield _article_item(el, position) if el.tag == "PubmedArticle" else _book_problem(el, position)
                    elif el.tag == "DeleteCitation":
                        yield _deleted(el, path)
                    root.clear()  # drop what was read (root is set: depth 1 comes after its start)
    except ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else "?"
        yield FileProblem(f"{path}:{line}", f"malformed XML, rest of the file skipped ({err})")
    except DefusedXmlException as err:
        yield FileProblem(str(path), f"unsafe XML, rest of the file skipped ({type(err).__name__})")
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # BadGzipFile before the caller's OSError
        reason = " ".join(str(err).split()) or type(err).__name__
        yield FileProblem(str(path), f"corrupt gzip data, rest of the file skipped ({reason})")

"""The real corpus in ../shared/fgen-corpus: every V2 and V1 file round-trips exactly; counts."""
from collections import Counter
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from fgen.corpus.conversion import collect_files, convert_paths
from fgen.formats.mae import mae_to_string, read_mae
from fgen.formats.mae_doc import doc_to_mae, mae_to_doc
from fgen.corpus.schemes import load_scheme
from fgen.corpus.tokenizer import make_nlp

from ..conftest import REAL_CORPUS

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not (REAL_CORPUS / "raw_data").is_dir(), reason="needs ../shared/fgen-corpus"),
]

FOLDERS = {
    "v2": ["V2 Marked and Linked Entities", "V2 Marked Entities No Linking", "V2 No Marked Entities"],
    "v1": ["Marked and Linked Entities", "Marked Entities No Linking", "No Marked Entities"],
    "iaa": ["HZ and CC files for IAA calculation"],
}
# What the corpus here holds (76 test abstracts withheld upstream).
EXPECTED = {
    # scheme: (files, docs after de-duplication, spans, links, link-annotated docs)
    "v2": (724, 723, 4621, 309, 135),
    "v1": (724, 723, 4532, 440, 178),
}


def _inputs(key):
    return [REAL_CORPUS / "raw_data" / name for name in FOLDERS[key]]


def _entity_key(record):
    return sorted((e.id, e.label, tuple(e.fragments), tuple(sorted(e.values.items()))) for e in record.entities)


def _link_key(record):
    return sorted(tuple(sorted(link.members.items())) for link in record.links)


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


@pytest.fixture(scope="module")
def converted(nlp):
    """convert_paths of a scheme's folders, run once per scheme for the tests that read the result."""
    results = {}

    def convert(scheme_name):
        if scheme_name not in results:
            results[scheme_name] = convert_paths(_inputs(scheme_name), load_scheme(REAL_CORPUS, scheme_name), nlp)
        return results[scheme_name]

    return convert


@pytest.mark.parametrize("key,scheme_name", [("v2", "v2"), ("v1", "v1"), ("iaa", "v2")])
def test_every_file_round_trips_exactly(nlp, key, scheme_name):
    scheme = load_scheme(REAL_CORPUS, scheme_name)
    vocab = spacy.blank("en").vocab
    files = collect_files(_inputs(key))
    assert files
    for path in files:
        record = read_mae(path, scheme)
        doc = mae_to_doc(nlp, record, scheme, {"source": path.name}).doc
        loaded = next(DocBin(store_user_data=True).from_bytes(DocBin(store_user_data=True, docs=[doc]).to_bytes()).get_docs(vocab))
        back = doc_to_mae(loaded, scheme)
        assert back.text == record.text, path
        assert _entity_key(back) == _entity_key(record), path
        assert _link_key(back) == _link_key(record), path
        # and the exported XML reads back to the same annotations
        reread = read_mae(path, scheme, data=mae_to_string(back, scheme).encode("utf8"))
        assert (_entity_key(reread), _link_key(reread)) == (_entity_key(record), _link_key(record)), path


@pytest.mark.parametrize("scheme_name", ["v2", "v1"])
def test_corpus_counts(converted, scheme_name):
    result = converted(scheme_name)
    files, docs, spans, links, linked_docs = EXPECTED[scheme_name]
    assert not result.errors
    assert result.n_files == files and len(result.docs) == docs
    assert result.n_spans == spans == sum(len(d.spans["fgen"]) for d in result.docs)
    assert sum(len(d._.links) for d in result.docs) == links
    assert sum(d._.provenance["links_annotated"] for d in result.docs) == linked_docs
    pmids = Counter(d._.provenance["pmid"] for d in result.docs)
    assert max(pmids.values()) == 1, "an abstract was emitted twice"
    assert [Path(d).name for d, _ in result.duplicates] == ["251_PMID30842218.txt_CC2.xml" if scheme_name == "v2" else "251_PMID30842218.txt_CC.xml"]
    # Every span is exact; the only forced token splits are the listed annotation slips.
    assert {issue.kind for _, issue in result.forced_spans} <= {"whitespace edge", "inside a word"}


def test_v2_entities_never_overlap(converted):
    result = converted("v2")
    assert all(len(d.ents) == len(d.spans["fgen"]) for d in result.docs)
    labels = Counter(s.label_ for d in result.docs for s in d.spans["fgen"])
    assert set(labels) == {"PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"}
    # V2 links join exactly one entity of each category
    assert all(len(link) == 4 for d in result.docs for link in d._.links)

"""`fgen-explore serve` over HTTP on 127.0.0.1: the API equals the query, escaping, read-only
index, nothing but its own routes."""
import contextlib
import inspect
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator, Tuple

import pytest

from fgen.explore.cli import serve
from fgen.explore.index import open_index
from fgen.explore.query import Filters, query_statements
from fgen.explore.server import create_app, evidence_html, pubmed_url, sentence_bounds
from tests.explore.records import HTML_RECORD
from tests.explore.test_query import FILTERS, INJECTIONS


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def get(url: str) -> Tuple[int, str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode("utf8")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type", ""), err.read().decode("utf8")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from fgen.explore.index import build_index
    from tests.explore.conftest import RECORDS
    from tests.explore.records import write_jsonl

    folder = tmp_path_factory.mktemp("serve")
    index = folder / "i.duckdb"
    build_index(index, [write_jsonl(folder / "r.jsonl", RECORDS)])
    app = create_app(index)
    with serving(app) as url:
        yield url, index, app


def test_api_statements_is_the_query(served):
    url, index, _ = served
    con = open_index(index)
    for params in [{}, {"perturbation": "ATG12"}, {"effect": "negative", "context": "hela"}, {"text": "tumorigenesis"},
                   {"phenotype": "autophagy", "limit": "1"}, {"min_abstracts": "2"}, {"min_score": "0.85"}]:
        status, kind, body = get(f"{url}/api/statements?{urllib.parse.urlencode(params)}")
        assert status == 200 and kind.startswith("application/json")
        assert json.loads(body) == query_statements(con, Filters.from_params(params)), params


def test_page_script_values_and_csv(served):
    url, _, _ = served
    status, kind, page = get(url + "/")
    assert status == 200 and kind.startswith("text/html") and '<script src="/app.js">' in page
    assert 'id="tab-annotate" class="" hidden' not in page and "hidden>Annotate" in page  # no --model: tab hidden
    assert get(url + "/app.js")[0] == 200
    assert json.loads(get(url + "/api/values")[2])["EFFECT"] == ["negative", "positive"]
    status, kind, body = get(url + "/api/statements.csv?perturbation=ATG12")
    assert status == 200 and kind.startswith("text/csv") and "knockdown of atg12" in body


def test_evidence_is_escaped_and_marked(served):
    url, _, _ = served
    item = next(e for g in json.loads(get(url + "/api/statements")[2]) for e in g["evidence"] if e["id"] == HTML_RECORD["id"])
    query = {"id": item["id"], **{role: f"{s},{e}" for role, (s, e) in item["spans"].items()}}
    status, _, body = get(url + "/api/evidence?" + urllib.parse.urlencode(query))
    data = json.loads(body)
    assert status == 200 and data["pubmed"] is None
    assert "<script>" not in data["html"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in data["html"]
    assert '<mark class="fgen-PERTURBING_ACTION" title="PERTURBING_ACTION">Knockdown of ATG12</mark>' in data["html"]
    assert "Nothing else" not in data["html"]  # only the statement's sentence


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_injection_attempts_over_http(served, attempt):
    url, index, _ = served
    for name in FILTERS:
        status, _, body = get(f"{url}/api/statements?{urllib.parse.urlencode({name: attempt})}")
        assert status == 200 and json.loads(body) == [], name
    status, _, _ = get(f"{url}/api/evidence?{urllib.parse.urlencode({'id': attempt})}")
    assert status == 404
    assert open_index(index).execute("SELECT count(*) FROM records").fetchone()[0] == 4


def test_bad_requests_and_unknown_paths(served):
    url, _, _ = served
    assert get(url + "/api/statements?limit=many")[0] == 400
    assert get(url + "/api/evidence?id=31462126&EFFECT=a,b")[0] == 400
    for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/page.py", "/i.duckdb"]:
        assert get(url + path)[0] == 404, path
    request = urllib.request.Request(url + "/api/annotate", data=b'{"text": "x"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 404  # no --model


def test_security_headers_and_read_only_index(served):
    url, _, app = served
    with urllib.request.urlopen(url + "/", timeout=10) as response:
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    import duckdb

    with pytest.raises(duckdb.Error):
        app.state.connection.execute("DELETE FROM records")


def test_serve_binds_localhost_by_default():
    assert inspect.signature(serve).parameters["host"].default.default == "127.0.0.1"


def test_evidence_helpers():
    text = "First one. Knockdown of X inhibits Y.\nThird."
    assert text[slice(*sentence_bounds(text, 11, 25))] == "Knockdown of X inhibits Y."
    assert evidence_html("a <b> c", {"EFFECT": [0, 1], "CONTEXT": [0, 3]}) == '<mark class="fgen-EFFECT" title="EFFECT">a</mark> &lt;b&gt; c'
    assert evidence_html("abc", {"EFFECT": [2, 9]}) == ""
    assert pubmed_url("31462126") == "https://pubmed.ncbi.nlm.nih.gov/31462126/"
    assert pubmed_url("abc-7") is None and pubmed_url("1/../x") is None


def test_model_tab_annotates_a_pasted_abstract(tmp_path, served):
    # The tiny pipeline of the annotate tests (an entity ruler and one statement when all four occur).
    from tests.annotate.test_annotate import LINK_SCORE, LINKED, build_nlp

    model = tmp_path / "model"
    build_nlp().to_disk(model)
    _, index, _ = served
    with serving(create_app(index, model=str(model))) as url:
        assert "hidden>Annotate" not in get(url + "/")[2]
        text = "<i>x</i> " + LINKED
        request = urllib.request.Request(url + "/api/annotate", data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            record = json.loads(response.read())
        assert [link["score"] for link in record["links"]] == [LINK_SCORE]
        assert {e["label"] for e in record["entities"]} == {"PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"}
        assert record["html"].startswith("&lt;i&gt;x&lt;/i&gt; <mark class=\"fgen-PERTURBING_ACTION\"")
        empty = urllib.request.Request(url + "/api/annotate", data=b'{"text": ""}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(empty, timeout=10)
        assert err.value.code == 400

"""`fgen-explore serve`: the explorer's page and JSON API over a built index, as a Starlette app.

    GET /                      the page (page.py): search, filters, grouped statements, evidence
    GET /app.js                its script
    GET /api/statements        `query --format json` for the same filters (query.Filters' names)
    GET /api/statements.csv    the same as CSV (the page's download)
    GET /api/values            each category's values (the filters' choices)
    GET /api/evidence          ?id=ID&PERTURBING_ACTION=START,END&...: the sentence(s) holding the
                               spans, HTML-escaped, members marked; the PubMed link of a PMID
    POST /api/annotate         with --model: {"text": ...} annotated live (record and marked HTML)

The index is opened read-only; each request uses its own cursor. Nothing is served from disk
but the index, and every response forbids scripts from anywhere but this server.
"""
import contextlib
import html
import re
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple, Union

from fgen.explore.index import ROLES, open_index
from fgen.explore.page import APP_JS, PAGE_HTML
from fgen.explore.query import Filters, category_values, format_groups, query_statements, record_text

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A sentence ends at . ! or ? followed by whitespace, or at a line break.
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_PMID = re.compile(r"\d{1,9}")
MAX_ANNOTATE_CHARS = 20000


def sentence_bounds(text: str, start: int, end: int) -> Tuple[int, int]:
    """The character range of the sentence(s) of `text` that hold [start, end)."""
    left = 0
    for match in _SENTENCE_END.finditer(text, 0, max(start, 0)):
        left = match.end()
    match = _SENTENCE_END.search(text, max(end, start, 0))
    right = match.end() if match else len(text)
    while left < right and text[left].isspace():
        left += 1
    return left, right


def marked_html(text: str, spans: List[Tuple[int, int, str]], window: Optional[Tuple[int, int]] = None) -> str:
    """`text` (or its `window`) HTML-escaped, each span (start, end, category) in a
    `<mark class="fgen-CATEGORY">` with the category as its title; overlapping spans after the
    first are left unmarked."""
    left, right = window or (0, len(text))
    parts, pos = [], left
    for start, end, label in sorted(spans):
        if start < pos or end > right or start >= end:
            continue
        parts.append(html.escape(text[pos:start]))
        parts.append(f'<mark class="fgen-{html.escape(label)}" title="{html.escape(label)}">{html.escape(text[start:end])}</mark>')
        pos = end
    parts.append(html.escape(text[pos:right]))
    return "".join(parts)


def evidence_html(text: str, spans: Dict[str, List[int]]) -> str:
    """The sentence(s) of `text` holding a statement's member `spans` (category → [start, end]),
    escaped and marked (`marked_html`)."""
    items = [(int(s), int(e), role) for role, (s, e) in spans.items() if 0 <= int(s) < int(e) <= len(text)]
    if not items:
        return ""
    window = sentence_bounds(text, min(s for s, _, _ in items), max(e for _, e, _ in items))
    return marked_html(text, items, window)


def pubmed_url(record_id: str) -> Optional[str]:
    """The PubMed address of a record whose id is a PMID (digits only), else None."""
    return f"https://pubmed.ncbi.nlm.nih.gov/{record_id}/" if _PMID.fullmatch(record_id) else None


def create_app(index: Union[str, Path], model: Optional[str] = None) -> Any:
    """The explorer's Starlette app over the index at `index` (opened read-only now).

    index (Union[str, Path]): a built index.
    model (Optional[str]): a trained pipeline for the live-annotation tab (loaded on first use).
    RETURNS (starlette.applications.Starlette): the app.
    RAISES (ExploreInputError): `index` is not a built index.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    con = open_index(index)
    pipeline: Dict[str, Any] = {}

    def filters_of(request: Request) -> Filters:
        return Filters.from_params(dict(request.query_params))

    def bad(reason: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": reason}, status_code=status)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE_HTML.replace("{{MODEL_TAB}}", "" if model else "hidden"))

    async def app_js(request: Request) -> Response:
        return Response(APP_JS, media_type="text/javascript")

    def statements(request: Request) -> Response:
        try:
            filters = filters_of(request)
        except ValueError as err:
            return bad(str(err))
        return JSONResponse(query_statements(con, filters))

    def statements_csv(request: Request) -> Response:
        try:
            filters = filters_of(request)
        except ValueError as err:
            return bad(str(err))
        headers = {"Content-Disposition": 'attachment; filename="statements.csv"'}
        return Response(format_groups(query_statements(con, filters), "csv"), media_type="text/csv", headers=headers)

    def values(request: Request) -> Response:
        return JSONResponse(category_values(con))

    def evidence(request: Request) -> Response:
        record_id = request.query_params.get("id", "")
        text = record_text(con, record_id)
        if text is None:
            return bad(f"no record {record_id!r}", 404)
        spans = {}
        for role in ROLES:
            value = request.query_params.get(role)
            if value:
                try:
                    start, end = (int(v) for v in value.split(","))
                except ValueError:
                    return bad(f"{role}: START,END expected")
                spans[role] = [start, end]
        return JSONResponse({"id": record_id, "html": evidence_html(text, spans), "pubmed": pubmed_url(record_id)})

    def annotate_text(text: str) -> Dict[str, Any]:
        from fgen.annotate.loading import load_pipeline
        from fgen.formats.jsonl import doc_record

        if "nlp" not in pipeline:
            pipeline["nlp"] = load_pipeline(model)
        record = doc_record(pipeline["nlp"](text), "pasted")
        spans = [(e["start"], e["end"], e["label"]) for e in record["entities"]]
        record["html"] = marked_html(text, spans)
        return record

    async def annotate(request: Request) -> Response:
        if not model:
            return bad("no --model given", 404)
        try:
            body = await request.json()
            text = body["text"]
        except (ValueError, KeyError, TypeError):
            return bad('{"text": ...} expected')
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_ANNOTATE_CHARS:
            return bad(f"text: 1 to {MAX_ANNOTATE_CHARS} characters")
        return JSONResponse(await run_in_threadpool(annotate_text, text))

    class SecurityHeaders:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def send_with_headers(message: Dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = list(message.get("headers", [])) + [
                        (k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()
                    ]
                await send(message)

            await self.app(scope, receive, send_with_headers)

    routes = [
        Route("/", page), Route("/app.js", app_js),
        Route("/api/statements", statements), Route("/api/statements.csv", statements_csv),
        Route("/api/values", values), Route("/api/evidence", evidence),
        Route("/api/annotate", annotate, methods=["POST"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        con.close()

    web_app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)], lifespan=lifespan, max_body_size=4 * MAX_ANNOTATE_CHARS)
    web_app.state.connection = con
    return web_app

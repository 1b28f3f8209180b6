"""The statements explorer (`fgen-explore`): annotate's outputs (JSONL records, the Ray job's
Parquet) indexed in DuckDB (`index.py`), member text normalised for grouping (`normalise.py`),
statements grouped across abstracts and filtered (`query.py`), the web page and its JSON API
(`server.py`, `page.py`), and the command line (`cli.py`). docs/explore.md describes it.

duckdb (and starlette and uvicorn for `serve`) are imported only here, not by `import fgen`.
"""

"""Parquet output: the records of `fgen.formats.jsonl.doc_record` plus where they came from and
which model made them, one file per input file (written all at once by `fgen.annotate.distributed`).

A file also carries its manifest line (records read, skipped with reasons, records the pipeline
failed on, `DeleteCitation` PMIDs, the model, the row count) in its footer's key-value metadata
under `MANIFEST_KEY`: what the file says about itself is written in the same atomic write as its
rows, so no crash can keep one without the other.

pyarrow comes with the `distributed` extra, so it is imported only here, when a Parquet file is
written or read.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Union

# The footer's key-value metadata key holding the file's manifest line (JSON).
MANIFEST_KEY = "fgen.manifest"

# Rows per Parquet row group: records are converted to Arrow in groups this size, so a whole
# baseline file is never held as Python objects at once.
ROWS_PER_GROUP = 1000


def parquet_schema(roles: Sequence[str]) -> Any:
    """The Arrow schema of the Parquet output: `doc_record`'s fields (`id`, `text`, `entities`,
    `links` with `members` as a struct of the statement `roles`) plus `source_file`, `model`
    and `model_version` (the folder the pipeline was loaded from is in the footer's manifest
    line, `model_path`). The same for every file of a run, whatever its statements.

    roles (Sequence[str]): the statement roles (entity labels), e.g. the V2 categories.
    RETURNS (pyarrow.Schema): the schema.
    """
    import pyarrow as pa

    entity = pa.struct([
        ("start", pa.int32()), ("end", pa.int32()), ("text", pa.string()), ("label", pa.string()),
        ("value", pa.string()), ("confidence", pa.float64()), ("value_confidence", pa.float64()),
    ])
    link = pa.struct([("members", pa.struct([(role, pa.int32()) for role in roles])), ("score", pa.float64())])
    return pa.schema([
        ("id", pa.string()), ("source_file", pa.string()), ("text", pa.string()),
        ("entities", pa.list_(entity)), ("links", pa.list_(link)), ("model", pa.string()), ("model_version", pa.string()),
    ])


def check_row(row: Dict[str, Any], roles: Sequence[str]) -> None:
    """RAISES (ValueError): a statement role that is not one of `roles` (Arrow would silently drop
    that member)."""
    for link in row["links"]:
        unknown = set(link["members"]) - set(roles)
        if unknown:
            raise ValueError(f"id {row['id']}: statement role {sorted(unknown)[0]!r} is not one of the output's roles ({', '.join(roles)})")


def schema_roles(schema: Any) -> list:
    """The statement roles of a Parquet output schema."""
    return [field.name for field in schema.field("links").type.value_type.field("members").type]


def parquet_bytes(rows: Iterable[Dict[str, Any]], schema: Any, manifest: Optional[Callable[[int], Dict[str, Any]]] = None) -> bytes:
    """A Parquet file of `rows` (dicts with the fields of `schema`), in memory.

    rows (Iterable[Dict[str, Any]]): the rows, read once.
    schema (pyarrow.Schema): see `parquet_schema`.
    manifest (Callable[[int], Dict[str, Any]]): called with the number of rows once all are
        written; what it returns goes to the footer under `MANIFEST_KEY`.
    RETURNS (bytes): the file.
    RAISES (ValueError): a statement role that is not in the schema.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    roles = schema_roles(schema)
    sink = pa.BufferOutputStream()
    count = 0
    with pq.ParquetWriter(sink, schema) as writer:
        group = []
        for row in rows:
            check_row(row, roles)
            group.append(row)
            count += 1
            if len(group) == ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
                group = []
        if group:
            writer.write_table(pa.Table.from_pylist(group, schema=schema))
        if manifest is not None:
            writer.add_key_value_metadata({MANIFEST_KEY: json.dumps(manifest(count), ensure_ascii=False)})
    return sink.getvalue().to_pybytes()


def recorded_manifest(path: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The manifest line in the footer of the Parquet file `path` when the file is complete: its
    footer reads and holds as many rows as the line records (`annotated`); else None (missing,
    truncated, not Parquet, written without a line)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        entry = json.loads((meta.metadata or {}).get(MANIFEST_KEY.encode(), b"null"))
    except (OSError, ValueError, TypeError):  # pyarrow's ArrowInvalid is a ValueError
        return None
    if not isinstance(entry, dict) or entry.get("annotated") != meta.num_rows:
        return None
    return entry


def read_parquet_rows(path: Union[str, Path]) -> list:
    """The rows of a Parquet output file as dicts (members of a statement without a role left out)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:
        for link in row["links"]:
            link["members"] = {role: index for role, index in link["members"].items() if index is not None}
    return rows

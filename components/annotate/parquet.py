"""Parquet output: the records of `fgen.annotate.records.doc_record` plus where they came from and
which model made them, one file per input file (written all at once by `fgen.annotate.distributed`).

pyarrow comes with the `distributed` extra (`pip install fgen[distributed]`), so it is imported
only here, when a Parquet file is written.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Sequence, Union

# Rows per Parquet row group: records are converted to Arrow in groups this size, so a whole
# baseline file is never held as Python objects at once.
ROWS_PER_GROUP = 1000


def parquet_schema(roles: Sequence[str]) -> Any:
    """The Arrow schema of the Parquet output: `doc_record`'s fields (`id`, `text`, `entities`,
    `links` with `members` as a struct of the statement `roles`) plus `source_file`, `model`
    and `model_version`. The same for every file of a run, whatever its statements.

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


def _check_roles(row: Dict[str, Any], roles: Sequence[str]) -> None:
    # Arrow would silently drop a member whose role is not a field of the struct.
    for link in row["links"]:
        unknown = set(link["members"]) - set(roles)
        if unknown:
            raise ValueError(f"id {row['id']}: statement role {sorted(unknown)[0]!r} is not one of the output's roles ({', '.join(roles)})")


def parquet_bytes(rows: Iterable[Dict[str, Any]], schema: Any) -> bytes:
    """A Parquet file of `rows` (dicts with the fields of `schema`), in memory.

    RAISES (ValueError): a statement role that is not in the schema.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    roles = [field.name for field in schema.field("links").type.value_type.field("members").type]
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema) as writer:
        group = []
        for row in rows:
            _check_roles(row, roles)
            group.append(row)
            if len(group) == ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
                group = []
        if group:
            writer.write_table(pa.Table.from_pylist(group, schema=schema))
    return sink.getvalue().to_pybytes()


def read_parquet_rows(path: Union[str, Path]) -> list:
    """The rows of a Parquet output file as dicts (members of a statement without a role left out)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:
        for link in row["links"]:
            link["members"] = {role: index for role, index in link["members"].items() if index is not None}
    return rows

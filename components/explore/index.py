"""The explorer's index: annotate's records (JSONL lines or the Ray job's Parquet rows, the fields
of `fgen.formats.jsonl.doc_record`) as DuckDB tables, one row per statement with its members'
normalised text, value and offsets (`statements`), the abstracts (`records`), the normalised
form of every member text seen (`norm`) and one row per group of statements (`statement_groups`:
members, abstracts, best score and best evidence, refreshed for the groups an input touches), so
that a query filters and ranks groups instead of aggregating every statement. The same statement rows are also defined as views over a
Parquet folder (`parquet_source`), so the queries of `fgen.explore.query` run on a cluster's
output without a copy.

Records and statements are flattened in SQL; only the distinct member texts go through Python
(`fgen.explore.normalise`), so building is bounded by DuckDB's reading, not by Python.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

from fgen.explore.normalise import normalise_text, perturbation_target

# The statement roles (V2 categories) and their column prefixes in the index.
ROLES: Dict[str, str] = {"PERTURBING_ACTION": "pa", "CONTEXT": "ctx", "EFFECT": "eff", "PHENOTYPE": "ph"}
SCHEMA_VERSION = "2"
# Evidence statements kept per group in `statement_groups`, best first; queries asking for more
# (or filtering statements by score) aggregate `statements` instead.
EVIDENCE_KEPT = 20
_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}
_ENTITY = 'STRUCT(start INTEGER, "end" INTEGER, text VARCHAR, label VARCHAR, value VARCHAR)'
_MEMBERS = ", ".join(f"{role} INTEGER" for role in ROLES)
_JSON_COLUMNS = {
    "id": "VARCHAR", "text": "VARCHAR", "entities": f"{_ENTITY}[]",
    "links": f"STRUCT(members STRUCT({_MEMBERS}), score DOUBLE)[]",
}
_REQUIRED = ("id", "text", "entities", "links")

_TABLES = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS records (id VARCHAR, text VARCHAR, source VARCHAR)",
    "CREATE TABLE IF NOT EXISTS norm (raw VARCHAR, text VARCHAR, target VARCHAR)",
    "CREATE TABLE IF NOT EXISTS statements (id VARCHAR, n INTEGER, score DOUBLE, gkey UBIGINT, "
    + ", ".join(f"{p}_text VARCHAR, {p}_value VARCHAR, {p}_target VARCHAR, {p}_start INTEGER, {p}_end INTEGER" for p in ROLES.values())
    + ")",
]


class ExploreInputError(ValueError):
    """An input that is not fgen output; `str()` is one line: `path: reason`."""


def _connect(path: Union[str, Path], read_only: bool = False) -> Any:
    import duckdb

    return duckdb.connect(str(path), read_only=read_only)


def input_files(paths: Iterable[Union[str, Path]]) -> List[Path]:
    """The input files of `paths`: each file itself, each folder's `.jsonl` and `.parquet` files
    (recursively, sorted).

    RAISES (ExploreInputError): a path that does not exist, or a file of another type.
    """
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file()))
        elif not path.exists():
            raise ExploreInputError(f"{path}: no such file or folder")
        elif path.suffix not in _SUFFIXES:
            raise ExploreInputError(f"{path}: not a .jsonl or .parquet file (annotate's or the Ray job's output)")
        else:
            files.append(path)
    return files


def _member_fields(con: Any, source: str, params: Sequence[Any]) -> List[str]:
    """The statement roles that the `links.members` struct of `source` has."""
    rel = con.sql(f"SELECT * FROM {source} LIMIT 0", params=list(params))
    types = dict(zip(rel.columns, rel.types))
    missing = [c for c in _REQUIRED if c not in types]
    if missing:
        raise ValueError(f"not fgen output: no {missing[0]!r} column")
    try:
        link = dict(types["links"].child.children)
        return [name for name, _ in link["members"].children]
    except (AttributeError, KeyError, TypeError):
        raise ValueError(f"not fgen output: 'links' is {types['links']}, not a list of statements") from None


def _source_sql(path: Path) -> Tuple[str, List[Any]]:
    """A table expression reading one input file, and its parameters."""
    if _SUFFIXES[path.suffix] == "jsonl":
        return "read_json(?, format='newline_delimited', columns=?)", [str(path), _JSON_COLUMNS]
    return "read_parquet(?)", [str(path)]


def flat_sql(raw: str, roles: Sequence[str]) -> str:
    """SELECT of one row per statement of the records in table `raw` (`id`, `text`, `entities`,
    `links`): id, position `n`, score, and per role the member's raw text, value and offsets.
    Roles missing from `roles` (the members struct of a Parquet file) are NULL."""
    cols = []
    for role, p in ROLES.items():
        index = f"link.members.{role}" if role in roles else "NULL::INTEGER"
        cols.append(f"entities[{index} + 1] AS {p}")
    return f"SELECT id, n - 1 AS n, link.score::DOUBLE AS score, {', '.join(cols)} FROM (SELECT id, entities, unnest(links) AS link, generate_subscripts(links, 1) AS n FROM {raw})"


def _problem(con: Any, roles: Sequence[str]) -> str:
    """Why the records in `_raw` are not fgen output, or ""."""
    bad = con.execute(
        "SELECT count(*) FILTER (id IS NULL), count(*) FILTER (text IS NULL), count(*) FILTER (entities IS NULL), count(*) FILTER (links IS NULL) FROM _raw"
    ).fetchone()
    for field, count in zip(_REQUIRED, bad):
        if count:
            return f"not fgen output: {count} record(s) without {field!r}"
    for role in ROLES:
        if role not in roles:
            continue
        row = con.execute(
            f"SELECT id FROM (SELECT id, len(entities) AS k, unnest(links).members.{role} AS i FROM _raw) WHERE i < 0 OR i >= k LIMIT 1"
        ).fetchone()
        if row:
            return f"not fgen output: record {row[0]}: a {role} member is not one of its entities"
    return ""


def _load(con: Any, path: Path) -> List[str]:
    """Read one input file into the temporary table `_raw` (the last record of an id wins) and
    check it; RETURNS its statement roles.

    RAISES (ExploreInputError): the file is not fgen output (`path: reason`).
    """
    import duckdb

    source, params = _source_sql(path)
    try:
        roles = _member_fields(con, source, params) if _SUFFIXES[path.suffix] == "parquet" else list(ROLES)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT id::VARCHAR AS id, text, entities, links FROM "
            f"(SELECT *, row_number() OVER () AS _row FROM {source}) QUALIFY row_number() OVER (PARTITION BY id ORDER BY _row DESC) = 1",
            params,
        )
        problem = _problem(con, roles)
    except (duckdb.Error, ValueError) as err:
        problem = str(err).splitlines()[0]
    if problem:
        raise ExploreInputError(f"{path}: {problem}")
    return roles


def _normalise_new(con: Any) -> None:
    """Add the member texts of `_flat` that `norm` lacks, normalised in Python."""
    import pyarrow as pa

    union = " UNION ".join(f"SELECT {p}.text AS t FROM _flat" for p in ROLES.values())
    new = [row[0] for row in con.execute(f"SELECT t FROM ({union}) WHERE t IS NOT NULL AND t NOT IN (SELECT raw FROM norm)").fetchall()]
    if not new:
        return
    table = pa.table({"raw": new, "text": [normalise_text(t) for t in new], "target": [perturbation_target(t) for t in new]})
    con.register("_new_norm", table)
    con.execute("INSERT INTO norm SELECT * FROM _new_norm")
    con.unregister("_new_norm")


def statement_columns(flat: str, norm: str) -> str:
    """SELECT of the `statements` columns from the flat rows `flat` and the normalised texts `norm`."""
    cols, joins, key = [], [], []
    for p in ROLES.values():
        target = f"n_{p}.target" if p == "pa" else "NULL::VARCHAR"
        cols.append(f"n_{p}.text AS {p}_text, f.{p}.value AS {p}_value, {target} AS {p}_target, f.{p}.start AS {p}_start, f.{p}.\"end\" AS {p}_end")
        joins.append(f"LEFT JOIN {norm} n_{p} ON n_{p}.raw = f.{p}.text")
        key += [f"n_{p}.text", f"f.{p}.value"]
    return f"SELECT f.id, f.n, f.score, hash({', '.join(key)}) AS gkey, {', '.join(cols)} FROM {flat} f {' '.join(joins)}"


def _evidence_sql() -> str:
    spans = ", ".join(f"'{p}': [{p}_start, {p}_end]" for p in ROLES.values())
    return f"list({{'id': id, 'score': score, 'spans': {{{spans}}}}} ORDER BY score DESC NULLS LAST, id, n)"


def groups_sql(where: str = "TRUE") -> str:
    """SELECT of the `statement_groups` rows of the `statements` matching `where`, one per group
    key: its members (the perturbation's most frequent target, and all its targets lower-cased,
    one a line, for the target filter), distinct abstracts, statements, best score, up to
    `EVIDENCE_KEPT` evidence statements, best first, and `rank` (set by `_refresh_groups`)."""
    members = ", ".join(f"any_value({p}_text) AS {p}_text, any_value({p}_value) AS {p}_value" for p in ROLES.values())
    return (
        f"SELECT gkey, count(DISTINCT id)::INTEGER AS abstracts, count(*)::INTEGER AS statements, max(score) AS score, {members}, "
        "mode(pa_target) AS pa_target, array_to_string(list_sort(list(DISTINCT lower(pa_target))), chr(10)) AS pa_targets, "
        f"{_evidence_sql()}[1:{EVIDENCE_KEPT}] AS evidence, NULL::BIGINT AS rank FROM statements WHERE {where} GROUP BY gkey"
    )


def group_order(table: str = "") -> str:
    """The order of grouped statements: most abstracts, best score, members' texts, group key."""
    texts = ", ".join(f"{table}{p}_text" for p in ROLES.values())
    return f"{table}abstracts DESC, {table}score DESC NULLS LAST, {texts}, {table}gkey"


def _refresh_groups(con: Any, everything: bool) -> None:
    """Recompute the `statement_groups` rows of the group keys in `_touched` (or all of them),
    then number all groups in `group_order` (`rank`) and store them in that order: a query ranks
    by one integer, and its top rows lie in the first row groups, which DuckDB reads alone."""
    if everything:
        con.execute("DELETE FROM statement_groups")
        con.execute(f"INSERT INTO statement_groups {groups_sql()}")
    else:
        con.execute("DELETE FROM statement_groups WHERE gkey IN (SELECT gkey FROM _touched)")
        con.execute(f"INSERT INTO statement_groups {groups_sql('gkey IN (SELECT gkey FROM _touched)')}")
    con.execute(
        "CREATE OR REPLACE TABLE statement_groups AS SELECT * EXCLUDE (rank), "
        f"row_number() OVER (ORDER BY {group_order()}) AS rank FROM statement_groups ORDER BY rank"
    )


def build_index(index: Union[str, Path], inputs: Iterable[Union[str, Path]]) -> Dict[str, int]:
    """Create or extend the index at `index` with the records of `inputs` (annotate's JSONL files,
    the Ray job's Parquet files, or folders of them). A record whose id is already indexed is
    replaced, so building again from the same input changes nothing. All or nothing: when any
    input is bad, the index is left as it was.

    index (Union[str, Path]): the DuckDB file (created when missing).
    inputs (Iterable[Union[str, Path]]): input files or folders.
    RETURNS (Dict[str, int]): `files`, `records` and `statements` read, and the index's totals
        `index_records` and `index_statements`.
    RAISES (ExploreInputError): one line per bad input (`path: reason`), joined by newlines.
    """
    files = input_files(inputs)
    con = _connect(index)
    try:
        for sql in _TABLES:
            con.execute(sql)
        con.execute("BEGIN TRANSACTION")
        # An index of an older schema (no groups yet) gets all its groups computed now.
        schema = con.execute("SELECT max(value) FROM meta WHERE key = 'schema'").fetchone()[0]
        con.execute(f"CREATE TABLE IF NOT EXISTS statement_groups AS {groups_sql('FALSE')}")
        everything = schema != SCHEMA_VERSION or not con.execute("SELECT count(*) FROM statement_groups").fetchone()[0]
        con.execute("DELETE FROM meta WHERE key = 'schema'")
        con.execute("INSERT INTO meta VALUES ('schema', ?)", [SCHEMA_VERSION])
        con.execute("CREATE OR REPLACE TEMP TABLE _touched (gkey UBIGINT)")
        problems: List[str] = []
        counts = {"files": len(files), "records": 0, "statements": 0}
        for path in files:
            try:
                roles = _load(con, path)
            except ExploreInputError as err:
                problems.append(str(err))
                continue
            if problems:
                continue
            con.execute(f"CREATE OR REPLACE TEMP TABLE _flat AS {flat_sql('_raw', roles)}")
            _normalise_new(con)
            if not everything:
                con.execute("INSERT INTO _touched SELECT gkey FROM statements WHERE id IN (SELECT id FROM _raw)")
            con.execute("DELETE FROM statements WHERE id IN (SELECT id FROM _raw)")
            con.execute("DELETE FROM records WHERE id IN (SELECT id FROM _raw)")
            con.execute("INSERT INTO records SELECT id, text, ? FROM _raw", [path.name])
            con.execute(f"INSERT INTO statements {statement_columns('_flat', 'norm')}")
            if not everything:
                con.execute("INSERT INTO _touched SELECT gkey FROM statements WHERE id IN (SELECT id FROM _raw)")
            counts["records"] += con.execute("SELECT count(*) FROM _raw").fetchone()[0]
            counts["statements"] += con.execute("SELECT count(*) FROM _flat").fetchone()[0]
        if problems:
            con.execute("ROLLBACK")
            raise ExploreInputError("\n".join(problems))
        _refresh_groups(con, everything)
        con.execute("COMMIT")
        con.execute("DROP TABLE IF EXISTS _raw")
        con.execute("DROP TABLE IF EXISTS _flat")
        con.execute("DROP TABLE IF EXISTS _touched")
        counts["index_records"] = con.execute("SELECT count(*) FROM records").fetchone()[0]
        counts["index_statements"] = con.execute("SELECT count(*) FROM statements").fetchone()[0]
        return counts
    finally:
        con.close()


def open_index(index: Union[str, Path]) -> Any:
    """A read-only DuckDB connection to a built index (the server's and the queries' way in).

    RAISES (ExploreInputError): `index` is missing or not an explorer index.
    """
    import duckdb

    path = Path(index)
    if not path.is_file():
        raise ExploreInputError(f"{path}: no such index (build it with `fgen-explore build`)")
    try:
        con = _connect(path, read_only=True)
        con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        con.execute("SELECT gkey FROM statements LIMIT 0")
    except duckdb.Error as err:
        raise ExploreInputError(f"{path}: not an fgen-explore index ({str(err).splitlines()[0]})") from None
    return con


def parquet_source(folder: Union[str, Path]) -> Any:
    """An in-memory DuckDB connection whose `records` and `statements` are views over the Parquet
    files of `folder` (or one file): the same queries as on a built index, with no copy of the
    data. Only the distinct member texts are normalised, once, into a small in-memory table.

    RAISES (ExploreInputError): no Parquet file there, or one that is not fgen output.
    """
    import duckdb

    path = Path(folder)
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise ExploreInputError(f"{path}: no .parquet files")
    con = duckdb.connect()
    source, params = "read_parquet(?, union_by_name = true)", [[str(f) for f in files]]
    try:
        roles = _member_fields(con, source, params)
    except (duckdb.Error, ValueError) as err:
        raise ExploreInputError(f"{path}: {str(err).splitlines()[0]}") from None
    # A view keeps no parameters, so the file names are SQL string literals, quotes doubled.
    names = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW _raw AS SELECT id::VARCHAR AS id, text, entities, links FROM read_parquet([{names}], union_by_name = true)")
    con.execute("CREATE VIEW records AS SELECT id, text, NULL::VARCHAR AS source FROM _raw")
    con.execute(f"CREATE VIEW _flat AS {flat_sql('_raw', roles)}")
    con.execute(_TABLES[2])
    _normalise_new(con)
    con.execute(f"CREATE VIEW statements AS {statement_columns('_flat', 'norm')}")
    return con

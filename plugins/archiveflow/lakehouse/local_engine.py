"""The local engine of lakehouse SQL: DuckDB computes and writes, pyiceberg commits. Plain Python: the caller
hands in factories of a DuckDB connection (extensions loaded, S3 secret set), of the pyiceberg catalog and
of a Glue client, all configured from the same connection Athena would use. The DuckDB connection is
opened in a thread of its own as soon as the engine is made (loading the extensions is most of a cold
look-up: DuckDB checks their signatures), while this thread makes the Glue client and asks Glue; the
pyiceberg catalog is made only by a statement that commits (a SELECT never imports it).

Every table a statement names is a view in DuckDB: an Iceberg table over `iceberg_scan` of its
current metadata (the MERGE target over exactly the metadata the commit builds on), a Glue JSON
table (Bronze) over `read_json` of its location with its partition columns and `"$path"`, as
Athena shows them. A commit that loses a race with another writer is recomputed on the new state
after a jittered backoff, as on Athena (`archiveflow.lakehouse.commit_conflicts`), so two runs
merging the same event ids at once still insert each id once.

A MERGE's rows are staged in a DuckDB temporary table (spilled to disk beyond the memory limit),
written by DuckDB as one Parquet file per partition (streamed to S3, the table's field ids), and
committed by pyiceberg (`add_files`, after deleting the partitions an upsert replaces) in one
transaction. Rows never pass through Python: memory stays bounded by DUCKDB_MEMORY_LIMIT.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlglot import exp

from archiveflow.failpoints import failpoint
from archiveflow.lakehouse.commit_conflicts import NO_BLIND_RETRIES, until_committed
from archiveflow.lakehouse.iceberg_writes import discard_uncommitted, run_write_id
from archiveflow.lakehouse.statements import (
    MergePlan,
    Unload,
    UnsupportedStatement,
    duckdb_sql,
    iceberg_table_def,
    merge_plan,
)

log = logging.getLogger(__name__)

WRITE_ID = "archiveflow.write_id"  # in a MERGE's snapshot summary and its data files' names
DUCKDB_MEMORY_LIMIT = "384MB"
ROW_GROUP_BYTES = "32MB"          # Parquet row groups written locally: small enough to stay under the limit
# The longest JSON line read. DuckDB's JSON reader holds buffers of twice this size per thread: a
# Bronze line is at most 16 MiB of source event with its payload re-escaped as a string (x2).
MAX_JSON_LINE = 33 << 20
HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE",
                  "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP"}


@dataclass
class LocalResult:
    statement: str
    table: str | None = None
    rows_written: int = 0
    snapshot_id: int | None = None
    rows: list[tuple] | None = None
    columns: list[str] | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "rows"}


def referenced_tables(tree: exp.Expression) -> list[str]:
    """Names of the catalog tables a statement reads or writes (CTE names excluded)."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names: list[str] = []
    for table in tree.find_all(exp.Table):
        if table.name and table.name not in ctes and table.name not in names:
            names.append(table.name)
    return names


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class LocalLakehouse:
    """One DuckDB connection for all the statements run through it (`close()` it when done).

    `connect`, `open_catalog` and `open_glue` make the DuckDB connection, the pyiceberg catalog and the
    Glue client, each once, when first needed (the connection at once, in a thread)."""

    def __init__(self, connect: Callable[[], Any], open_catalog: Callable[[], Any], open_glue: Callable[[], Any],
                 database: str) -> None:
        self.open_catalog, self.open_glue, self.database = open_catalog, open_glue, database
        opener = ThreadPoolExecutor(1, thread_name_prefix="duckdb-connect")
        self._opening: Future | None = opener.submit(connect)
        opener.shutdown(wait=False)  # its thread ends once the connection is open
        self._con = None
        self._spill = ""
        self._defined: set[str] = set()  # views the caller defined (not catalog tables)

    @cached_property
    def catalog(self):
        return self.open_catalog()

    @cached_property
    def glue(self):
        return self.open_glue()

    def close(self) -> None:
        if self._opening is not None:
            opening, self._opening = self._opening, None
            if opening.exception() is None and opening.result() is not None:
                opening.result().close()
        if self._con is not None:
            self._con.close()
            self._con = None
            shutil.rmtree(self._spill, ignore_errors=True)

    def define_view(self, name: str, define: Callable[[Any], None]) -> None:
        """A table the statements read that is no catalog table (a source's S3 Inventory report, which
        Athena reads as a table): ``define(con)`` creates the view ``name`` on the engine's connection."""
        define(self._connection(exp.select("1"), {}))
        self._defined.add(name)

    def run(self, tree: exp.Expression | Unload, snapshot_properties: dict[str, str] | None = None) -> LocalResult:
        started = time.monotonic()
        if isinstance(tree, Unload):
            result = self._unload(tree)
        elif isinstance(tree, exp.Create):
            result = self._create(tree)
        elif isinstance(tree, exp.Merge):
            result = self._merge(tree, snapshot_properties or {})
        elif isinstance(tree, exp.Delete):
            result = self._delete(tree, snapshot_properties or {})
        elif isinstance(tree, exp.Select | exp.Union):
            result = self._select(tree)
        else:
            raise UnsupportedStatement(f"{type(tree).__name__} statements are not run locally")
        result.seconds = round(time.monotonic() - started, 2)
        return result

    # --- statements ---------------------------------------------------------------------------

    def _create(self, tree: exp.Create) -> LocalResult:
        definition = iceberg_table_def(tree)
        identifier = f"{self.database}.{definition.name}"
        properties = {"write.parquet.compression-codec": definition.properties.get("write_compression", "zstd"),
                      **NO_BLIND_RETRIES}
        # Looked up first: creating writes a metadata file before Glue refuses an existing name.
        if self.catalog.table_exists(identifier):
            log.info("Iceberg table %s exists", identifier)
        else:
            table = self.catalog.create_table_if_not_exists(
                identifier, schema=definition.schema(), location=definition.location,
                partition_spec=definition.partition_spec(), properties=properties)
            log.info("Iceberg table %s created at %s", identifier, table.location())
        return LocalResult("CREATE TABLE", table=identifier)

    def _select(self, tree: exp.Expression) -> LocalResult:
        cursor = self._connection(tree, {}).execute(duckdb_sql(tree))
        return LocalResult("SELECT", rows=cursor.fetchall(), columns=[d[0] for d in cursor.description])

    def _unload(self, tree: Unload) -> LocalResult:
        """DuckDB's COPY streams the rows to S3 as they are computed (spilling its sorts and windows):
        none passes through Python."""
        (written,) = self._connection(tree.query, {}).execute(duckdb_sql(tree)).fetchone()
        return LocalResult("UNLOAD", rows_written=written)

    def _merge(self, tree: exp.Merge, snapshot_properties: dict[str, str]) -> LocalResult:
        # The same write id in every try of a task (its run, the statement with its parameters bound)
        # names the data files: a try deletes those a killed try wrote and never committed.
        write_id = str(run_write_id(snapshot_properties.get("archiveflow.run_id", str(uuid.uuid4())), tree.sql()))
        snapshot_properties = {**snapshot_properties, WRITE_ID: write_id}

        def attempt(table) -> LocalResult:
            if not any((snapshot.summary or {}).get(WRITE_ID) == write_id for snapshot in table.snapshots()):
                discard_uncommitted(table, write_id)
            plan = merge_plan(tree, tuple(_partition_columns(table)))
            return self._merge_once(tree, table, plan, snapshot_properties)

        return self._until_committed(tree.this.name, attempt)

    def _delete(self, tree: exp.Delete, snapshot_properties: dict[str, str]) -> LocalResult:
        """`DELETE FROM t WHERE <partition column> = <constant>`: the partition's rows dropped in one commit."""
        from pyiceberg.expressions import EqualTo

        condition = tree.args["where"].this if tree.args.get("where") else None
        if not (isinstance(condition, exp.EQ) and isinstance(condition.this, exp.Column)
                and not list(condition.expression.find_all(exp.Column))):
            raise UnsupportedStatement("locally, DELETE needs WHERE <partition column> = <constant>")
        column = condition.this.name
        value = self._connection(exp.select("1"), {}).execute(f"SELECT {duckdb_sql(condition.expression)}").fetchone()[0]

        def attempt(table) -> LocalResult:
            if column not in _partition_columns(table):
                raise UnsupportedStatement(f"locally, DELETE filters on a partition column; {column} is not one")
            table.delete(EqualTo(column, value.isoformat() if hasattr(value, "isoformat") else value),
                         snapshot_properties=snapshot_properties)
            return LocalResult("DELETE", table=".".join(table.name()))

        return self._until_committed(tree.this.name, attempt)

    def _until_committed(self, name: str, attempt: Callable[[Any], LocalResult]) -> LocalResult:
        """`attempt(table)` on the table's current snapshot, again after each commit that lost a race."""
        identifier = f"{self.database}.{name}"

        def on_current_snapshot() -> LocalResult:
            table = self.catalog.load_table(identifier)
            if any(table.properties.get(k) != v for k, v in NO_BLIND_RETRIES.items()):
                table = table.transaction().set_properties(NO_BLIND_RETRIES).commit_transaction()
            return attempt(table)

        return until_committed(identifier, on_current_snapshot)

    def _merge_once(self, tree: exp.Merge, table, plan: MergePlan, snapshot_properties: dict[str, str]) -> LocalResult:
        con = self._connection(tree, {plan.target: table.metadata_location})
        written = (self._insert if plan.kind == "insert" else self._upsert)(con, table, plan, snapshot_properties)
        snapshot = table.current_snapshot() if written else None
        return LocalResult(f"MERGE ({plan.kind})", table=".".join(table.name()), rows_written=written,
                           snapshot_id=snapshot.snapshot_id if snapshot else None)

    def _insert(self, con, table, plan: MergePlan, snapshot_properties: dict[str, str]) -> int:
        written, partitions = _stage_new_rows(con, table, plan.rows_sql)
        if written:
            files = _write_files(con, table, "SELECT * FROM new_rows", partitions, snapshot_properties[WRITE_ID])
            failpoint("lakehouse.merge_files_written")
            _commit(table, files, snapshot_properties)
        return written

    def _upsert(self, con, table, plan: MergePlan, snapshot_properties: dict[str, str]) -> int:
        """The partitions the source touches are rewritten whole: their unmatched rows + the source's."""
        from pyiceberg.expressions import And, EqualTo, Or

        con.execute(f"CREATE OR REPLACE TEMP TABLE source_rows AS {plan.source_sql}")
        written, partitions = _stage_new_rows(con, table, plan.rows_sql)
        if not written:
            return 0
        replaced = []
        for values in partitions:
            terms = [EqualTo(name, value.isoformat() if hasattr(value, "isoformat") else value)
                     for name, value in values.items()]
            replaced.append(terms[0] if len(terms) == 1 else And(*terms))
        files = _write_files(con, table, f"SELECT * FROM new_rows UNION ALL BY NAME {plan.partition_rows_sql}",
                             partitions, snapshot_properties[WRITE_ID])
        _commit(table, files, snapshot_properties, replacing=replaced[0] if len(replaced) == 1 else Or(*replaced))
        return written

    # --- DuckDB views of the catalog tables ---------------------------------------------------

    def _connection(self, tree: exp.Expression, metadata_locations: dict[str, str]):
        # Glue is asked while the connection is still being opened.
        views = {name: self._view_query(name, metadata_locations.get(name)) for name in referenced_tables(tree)
                 if name not in self._defined}
        if self._con is None:
            opening, self._opening = self._opening, None
            self._con = opening.result()
            self._con.execute("SET TimeZone = 'UTC'")  # Athena's timestamps are UTC wall-clock times
            self._con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")  # spills beyond, keeps the task small
            self._con.execute("SET preserve_insertion_order = false")  # an Iceberg write has no row order to keep
            self._spill = tempfile.mkdtemp(prefix="archiveflow-duckdb-")  # not the working directory
            self._con.execute(f"SET temp_directory = {_quote(self._spill)}")
            # S3 writes go up in 5 MiB parts (part size = this / 10,000 parts) as they are written,
            # instead of buffering up to 80 MiB per file in memory first.
            self._con.execute("SET s3_uploader_max_filesize = '50GB'")
        for name, query in views.items():
            self._con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {query}')
        return self._con

    def _view_query(self, name: str, metadata_location: str | None) -> str:
        if metadata_location:
            return f"SELECT * FROM iceberg_scan({_quote(metadata_location)})"
        try:
            table = self.glue.get_table(DatabaseName=self.database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            raise UnsupportedStatement(f"table {self.database}.{name} does not exist") from None
        parameters = table.get("Parameters", {})
        if parameters.get("table_type", "").upper() == "ICEBERG":
            return f"SELECT * FROM iceberg_scan({_quote(parameters['metadata_location'])})"
        return _json_table_query(table)


def _json_table_query(table: dict) -> str:
    """A Glue JSON-lines table (Bronze) as Athena shows it: its columns, its partition columns (as
    strings) and `"$path"`, the object each row came from."""
    storage = table["StorageDescriptor"]
    if "JsonSerDe" not in storage.get("SerdeInfo", {}).get("SerializationLibrary", ""):
        raise UnsupportedStatement(f"{table['Name']}: only Iceberg and JSON tables are read locally")
    columns = ", ".join(f"{_quote(c['Name'])}: {_quote(HIVE_TO_DUCKDB[c['Type']])}" for c in storage["Columns"])
    partitions = ", ".join(f"{_quote(p['Name'])}: 'VARCHAR'" for p in table.get("PartitionKeys", []))
    location = storage["Location"].rstrip("/") + "/"
    glob = location + "*/" * len(table.get("PartitionKeys", [])) + "*"
    return (f"SELECT * EXCLUDE (filename), filename AS \"$path\" FROM read_json({_quote(glob)}, "
            f"format = 'newline_delimited', columns = {{{columns}}}, hive_partitioning = true, "
            f"hive_types = {{{partitions}}}, filename = true, maximum_object_size = {MAX_JSON_LINE})")


ICEBERG_TO_DUCKDB = {"string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "float": "FLOAT",
                     "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}


def _partition_columns(table) -> list[str]:
    return [table.schema().find_column_name(f.source_id) for f in table.spec().fields]


def _stage_new_rows(con, table, rows_sql: str) -> tuple[int, list[dict[str, Any]]]:
    """The rows to write into the temporary table `new_rows` (DuckDB spills it beyond its memory
    limit); their count and the partitions they fall in, stored as `touched`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_rows AS {rows_sql}")
    written = con.execute("SELECT count(*) FROM new_rows").fetchone()[0]
    names = _partition_columns(table)
    if not written or not names:
        return written, [{}] if written else []
    columns = ", ".join(f'"{name}"' for name in names)
    con.execute(f"CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT {columns} FROM new_rows")
    return written, [dict(zip(names, row, strict=True)) for row in con.execute("SELECT * FROM touched").fetchall()]


def _write_files(con, table, rows_sql: str, partitions: list[dict[str, Any]], write_id: str) -> list[str]:
    """One new Parquet data file per partition under the table's data location (Hive-style folders,
    the write id in its name),
    each column cast to its Iceberg type and tagged with its field id; pyiceberg reads the partition
    values back from the files' column statistics. The files' URLs; on failure none is left."""
    schema = table.schema()
    casts, field_ids = [], []
    for field in schema.fields:
        kind = ICEBERG_TO_DUCKDB.get(str(field.field_type))
        if kind is None:
            raise UnsupportedStatement(f"{field.name}: Iceberg type {field.field_type} is not written locally")
        casts.append(f'CAST("{field.name}" AS {kind}) AS "{field.name}"')
        field_ids.append(f"{_quote(field.name)}: {field.field_id}")
    data = table.properties.get("write.data.path", f"{table.location().rstrip('/')}/data")
    codec = table.properties.get("write.parquet.compression-codec", "zstd")
    files: list[str] = []
    try:
        for values in partitions:
            folder = "".join(f"{name}={'null' if value is None else urllib.parse.quote(str(value))}/"
                             for name, value in values.items())
            path = f"{data}/{folder}archiveflow-{write_id}-{uuid.uuid4()}.parquet"
            where = " AND ".join(f'"{name}" IS NOT DISTINCT FROM ?' for name in values) or "true"
            files.append(path)
            con.execute(f"COPY (SELECT {', '.join(casts)} FROM ({rows_sql}) WHERE {where}) TO {_quote(path)} "
                        f"(FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE_BYTES '{ROW_GROUP_BYTES}', "
                        f"FIELD_IDS {{{', '.join(field_ids)}}})", list(values.values()))
    except BaseException:
        _delete_files(table, files)
        raise
    return files


def _commit(table, files: list[str], snapshot_properties: dict[str, str], replacing=None) -> None:
    """One Iceberg commit: the rows matching `replacing` (whole partitions) deleted, `files` added.
    The files of a commit that fails are deleted: nothing unreferenced is left under the table."""
    try:
        with table.transaction() as transaction:
            if replacing is not None:
                transaction.delete(replacing, snapshot_properties=snapshot_properties)
            transaction.add_files(files, snapshot_properties=snapshot_properties, check_duplicate_files=False)
    except BaseException:
        _delete_files(table, files)
        raise


def _delete_files(table, files: list[str]) -> None:
    for path in files:
        try:
            table.io.delete(path)
        except Exception as err:  # the commit's own error matters more; an orphan is only storage
            log.warning("could not delete %s after a failed commit: %s", path, err)

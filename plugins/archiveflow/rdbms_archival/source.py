"""The source side: what a table looks like in PostgreSQL, which rows a run takes, and reading
them from one snapshot.

Rows, count and checksums come from ONE snapshot: a REPEATABLE READ READ ONLY transaction on the
psycopg connection computes count and checksums (with server-side bind parameters) and exports
its snapshot; the ADBC connection imports it (`SET TRANSACTION SNAPSHOT`) and streams the rows
with `COPY ... TO STDOUT (FORMAT binary)` straight into Arrow batches. COPY cannot take bind
parameters, so the WHERE clause's parameters are bound client-side by psycopg
(`ClientCursor.mogrify`, the same adaptation psycopg uses for any client-side binding).

A value the target types cannot hold (NaN in numeric(p, s), an infinite date or timestamp, an
array PostgreSQL's binary COPY reader refuses) raises `ArchiveDataError`: the same snapshot fails
the same way on every attempt, so callers should not retry it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.rows import dict_row

from archiveflow.errors import BadRequest, SafetyRefusal, TransientServiceError, UnarchivableData
from archiveflow.rdbms_archival import sql_files
from archiveflow.rdbms_archival.allowed_sources import NO_ALLOW_LIST, AllowedSources, is_system_schema
from archiveflow.rdbms_archival.explain import check_with_postgresql
from archiveflow.rdbms_archival.naming import (
    ARCHIVE_COLUMNS,
    UnknownName,
    iceberg_name,
    iceberg_table_name,
    resolve,
)
from archiveflow.rdbms_archival.pgtypes import Column, canonical, uuid_text
from archiveflow.rdbms_archival.request import ArchivalRequest, TableRequest
from archiveflow.rdbms_archival.row_digest import row_digest_sql
from archiveflow.rdbms_archival.session import without_password
from archiveflow.rdbms_archival.sql_guard import GuardError, Selection, Table, compile_selection

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 10.0
READ_BATCH_BYTES = 4 * 1024 * 1024  # the driver's batches: ends a batch at the row that passes this


class ArchiveDataError(UnarchivableData):
    """The source data itself cannot be archived as typed; deterministic, so not worth a retry."""

    def __init__(self, table: str, column: str | None, reason: str):
        self.table, self.column, self.reason = table, column, reason
        where = f"column {column!r} " if column else ""
        super().__init__(f"{table}: {where}{reason}")


# The earliest value PostgreSQL's date/timestamp types hold (4714-11-24 BC) since 1970-01-01.
# ADBC turns 'infinity', '-infinity' and timestamps past 294246 AD into wrapped-around integers,
# all below these bounds: a batch minimum under them means such a value is there.
_PG_MIN_DAYS = -2440588
_PG_MIN_MICROS = _PG_MIN_DAYS * 86_400_000_000


_ACTIONS = {"c": "ON DELETE CASCADE", "n": "ON DELETE SET NULL", "d": "ON DELETE SET DEFAULT"}


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of another table whose ON DELETE action changes its rows when ours are deleted."""

    name: str
    schema: str
    table: str
    action: str  # pg_constraint.confdeltype: c, n or d
    columns: tuple[str, ...]
    referenced_columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table} ({self.name}, {_ACTIONS[self.action]})"


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    oid: int
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    relkind: str = "r"
    triggers: tuple[dict, ...] = ()  # {"name", "definition"}
    referenced_by: tuple[ForeignKey, ...] = ()

    @property
    def qualified(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def scope(self) -> sql.Composable:
        """What reads and deletes name: a table's own rows only (`ONLY`: its primary key does not
        cover inheritance children), a partitioned table's whole hierarchy (its key covers it)."""
        if self.relkind in ("r", "f"):
            return sql.SQL("ONLY {}").format(self.qualified)
        return self.qualified


@dataclass(frozen=True)
class TablePlan:
    """One table of a run, checked against the source: what to read and where it goes."""

    index: int
    request: TableRequest
    source: SourceTable
    selection: Selection
    iceberg_table: str  # "glue_database.table"

    @property
    def label(self) -> str:
        return f"{self.source.schema}.{self.source.name}"

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.source.columns if c.name in self.selection.columns)

    def field(self, name: str) -> str:
        return f"source_table[{self.index}].{name}"


def describe_table(conn: psycopg.Connection, schema: str, table: str) -> SourceTable:
    """Resolve names with the rules in naming.py; raises UnknownName."""
    schemas = [r[0] for r in conn.execute(sql_files.load("schemas")).fetchall()]
    schema = resolve(schema, schemas, what="schema", quoted=False, sql_identifier=False)
    if is_system_schema(schema):
        raise UnknownName(f"schema {schema!r} is a PostgreSQL system schema: never a source")
    relations = {r[1]: (r[0], r[2]) for r in conn.execute(sql_files.load("relations"), {"schema": schema}).fetchall()}
    name = resolve(table, relations, what=f"table in schema {schema!r}", quoted=False, sql_identifier=False)
    oid, relkind = relations[name]
    with conn.cursor(row_factory=dict_row) as cur:
        columns = tuple(Column(**row) for row in cur.execute(sql_files.load("columns"), {"oid": oid}))
        triggers = tuple(cur.execute(sql_files.load("triggers"), {"oid": oid}).fetchall())
        referenced_by = tuple(
            ForeignKey(**{**row, "columns": tuple(row["columns"]), "referenced_columns": tuple(row["referenced_columns"])})
            for row in cur.execute(sql_files.load("referenced_by"), {"oid": oid}))
    key = tuple(r[0] for r in conn.execute(sql_files.load("primary_key"), {"oid": oid}).fetchall())
    return SourceTable(schema=schema, name=name, oid=oid, columns=columns, primary_key=key, relkind=relkind,
                       triggers=triggers, referenced_by=referenced_by)


def plan_tables(conn: psycopg.Connection, request: ArchivalRequest, glue_database: str,
                allowed: AllowedSources = NO_ALLOW_LIST) -> list[TablePlan]:
    """Check every table of the request against the source catalog and PostgreSQL's EXPLAIN
    (reads no table data). Raises BadRequest naming the field and table, also when two entries
    name the same table."""
    plans: list[TablePlan] = []
    for index in range(len(request.source_table)):
        plan = plan_table(conn, request, index, glue_database, allowed)
        check_with_postgresql(conn, plan)
        if same := next((p for p in plans if p.source.oid == plan.source.oid), None):
            raise BadRequest(plan.field("table_name"), f"names the same table as {same.field('table_name')}",
                             plan.label)
        plans.append(plan)
    return plans


def plan_table(conn: psycopg.Connection, request: ArchivalRequest, index: int, glue_database: str,
               allowed: AllowedSources = NO_ALLOW_LIST) -> TablePlan:
    wanted = request.source_table[index]
    field = f"source_table[{index}]"
    try:
        source = describe_table(conn, request.source_schema, wanted.table_name)
    except UnknownName as e:
        first = "source_schema" if str(e).startswith("schema") else f"{field}.table_name"
        raise BadRequest(first, str(e), wanted.table_name) from None
    if refusal := allowed.refusal(source.schema, source.name):
        which, message = refusal
        raise BadRequest("source_schema" if which == "schema" else f"{field}.table_name", message, wanted.table_name)
    try:
        selection = compile_selection(Table(source.schema, source.name, tuple(c.name for c in source.columns)),
                                      wanted.condition, wanted.query)
    except GuardError as e:
        which, _, message = str(e).partition(": ")
        raise BadRequest(f"{field}.{which}", message, wanted.table_name) from None
    plan = TablePlan(index, wanted, source, selection,
                     f"{glue_database}.{iceberg_table_name(conn.info.dbname, source.schema, source.name)}")
    _check_plan(plan, request)
    _check_condition_types(plan)
    return plan


def _check_condition_types(plan: TablePlan) -> None:
    """An extension's type outside pg_catalog (citext, hstore, ltree...) has its operators there
    too, out of reach of the pinned search_path: PostgreSQL would compare such a column with
    others (citext as case-sensitive text), so a condition on one is refused."""
    types = {c.name: c for c in plan.source.columns}
    for field, name in plan.selection.referenced:
        column = types[name]
        if column.type_kind == "b" and column.element_type is None and column.type_schema != "pg_catalog":
            raise BadRequest(plan.field(field), f"column {name!r} is of type {column.declared_type}, whose operators "
                             f"live in schema {column.type_schema!r}, outside the archive's search_path (pg_catalog, "
                             "pg_temp), where a comparison would mean something else; leave it out of the "
                             "condition, or archive a view that converts it", plan.label)


def _check_plan(plan: TablePlan, request: ArchivalRequest) -> None:
    by_iceberg_name: dict[str, str] = {}
    for column in plan.columns:
        if iceberg_name(column.name) in ARCHIVE_COLUMNS:
            raise BadRequest(plan.field("table_name"), f"column {column.name!r} becomes Iceberg column "
                               f"{iceberg_name(column.name)!r}, which archiveflow adds itself", plan.label)
        other = by_iceberg_name.setdefault(iceberg_name(column.name), column.name)
        if other != column.name:
            raise BadRequest(plan.field("table_name"), f"columns {other!r} and {column.name!r} both become "
                               f"Iceberg column {iceberg_name(column.name)!r}", plan.label)
    if request.purge and not request.legal_hold:
        _check_purge(plan, request)


def _check_purge(plan: TablePlan, request: ArchivalRequest) -> None:
    """A purge deletes whole rows, compared with their archived version: it needs a key, every
    column archived, and no other table changed by the deletes unless the conf opts in."""
    if not plan.source.primary_key:
        raise BadRequest("purge", "the table has no primary key, so archived rows cannot be deleted "
                           "safely; archive it without purge", plan.label)
    missing = [c.name for c in plan.source.columns if c.name not in plan.selection.columns]
    if missing:
        raise BadRequest(plan.field("query"), f"purge deletes whole rows, but the query leaves out the columns "
                           f"{missing}: select every column (SELECT *) or archive without purge", plan.label)
    if plan.source.referenced_by and not request.allow_purge_cascade:
        raise SafetyRefusal(f"{plan.label}: a purge would change rows of other tables through their foreign keys: "
                            + "; ".join(fk.label for fk in plan.source.referenced_by)
                            + ". Set allow_purge_cascade to purge anyway (dry_run counts those rows), "
                            "or archive without purge")


class SnapshotRead:
    """Count, checksums and rows of one table from one snapshot (see the module docstring).

    with SnapshotRead(conn, adbc) as read:
        figures = read.figures(plan); batches = read.rows(plan, batch_size)

    `adbc` is an ADBC URI (connected when rows are read, closed on exit) or an open ADBC
    connection (see `connect_adbc`; its owner closes it).
    """

    def __init__(self, conn: psycopg.Connection, adbc):
        self.conn, self.adbc = conn, adbc
        self._resources = contextlib.ExitStack()

    def __enter__(self) -> SnapshotRead:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise RuntimeError("SnapshotRead needs a connection with no transaction open")
        saved = self.conn.isolation_level, self.conn.read_only
        self._resources.callback(setattr, self.conn, "isolation_level", saved[0])
        self._resources.callback(setattr, self.conn, "read_only", saved[1])
        self.conn.isolation_level, self.conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        self._resources.enter_context(self.conn.transaction(force_rollback=True))
        # now(): when the snapshot was taken, the version of every row read from it (as microseconds
        # since 1970: a timestamp's text depends on the session's DateStyle)
        self.snapshot, micros = self.conn.execute(
            "SELECT pg_export_snapshot(), (extract(epoch FROM now()) * 1000000)::int8").fetchone()
        self.taken_at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
        return self

    def __exit__(self, *exc) -> None:
        self._resources.close()

    def figures(self, plan: TablePlan) -> dict:
        """{"row_count": n, "columns": {column: {"count": "n", "digest": "d"}}} of the selected rows."""
        parts = []
        for column in plan.columns:
            ident = sql.Identifier(column.name)
            digest = sql.SQL(column.family.digest_sql).format(c=ident)
            parts.append(sql.SQL("count({c}), sum({d})").format(c=ident, d=digest))
        # an array column's type does not fix its dimensions, and the driver flattens 2-D arrays
        lists = [c for c in plan.columns if c.family.name == "list"]
        parts += [sql.SQL("max(array_ndims({}))").format(sql.Identifier(c.name)) for c in lists]
        query = sql_files.load("source_figures").format(
            figures=sql.SQL(", ").join(parts), table=plan.source.scope, where=plan.selection.where)
        try:
            with self.conn.transaction():  # a savepoint: an error here keeps the exported snapshot alive
                # one process: parallel workers would take CPU from the row stream it runs beside
                self.conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                row = self.conn.execute(query, plan.selection.params).fetchone()
        except psycopg.DataError as e:  # SQLSTATE class 22, e.g. an infinite date has no day number
            raise ArchiveDataError(plan.label, self._unstorable_column(plan),
                                   f"PostgreSQL cannot compute the checksums: {str(e).strip()}") from None
        columns = {c.name: {"count": str(row[1 + 2 * i]), "digest": canonical(row[2 + 2 * i])}
                   for i, c in enumerate(plan.columns)}
        for column, dimensions in zip(lists, row[1 + 2 * len(plan.columns):], strict=True):
            if dimensions is not None and dimensions > 1:
                raise ArchiveDataError(plan.label, column.name, f"holds {dimensions}-dimensional arrays; only "
                                       "1-D arrays are archived as lists (exclude them with a condition)")
        return {"row_count": row[0], "columns": columns}

    def _unstorable_column(self, plan: TablePlan) -> str | None:
        """The first date/timestamp column holding 'infinity'/'-infinity' among the selected rows."""
        for column in plan.columns:
            if column.family.name in ("date", "timestamp", "timestamptz"):
                query = sql.SQL("SELECT EXISTS (SELECT FROM {table} WHERE ({where}) AND NOT isfinite({c}))").format(
                    table=plan.source.scope, where=plan.selection.where, c=sql.Identifier(column.name))
                with self.conn.transaction():
                    if self.conn.execute(query, plan.selection.params).fetchone()[0]:
                        return column.name
        return None

    def key_ranges(self, plan: TablePlan, streams: int) -> list[sql.Composable | None]:
        """`streams` conditions that split the table between as many readers, by ranges of its
        single integer primary key (min and max from the index, in this snapshot): together they
        cover every key once, whatever the keys' spread. [None] (one reader, the whole table)
        when there is one stream, no such key, or no row."""
        key = plan.source.primary_key
        column = next((c for c in plan.source.columns if len(key) == 1 and c.name == key[0]), None)
        if streams <= 1 or column is None or column.family.name not in ("int32", "int64"):
            return [None]
        ident = sql.Identifier(column.name)
        with self.conn.transaction():
            low, high = self.conn.execute(sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(
                k=ident, t=plan.source.scope)).fetchone()
        if low is None:
            return [None]
        cuts = sorted({low + (high - low + 1) * i // streams for i in range(1, streams)})
        ranges = [sql.SQL("{k} < {hi}").format(k=ident, hi=sql.Literal(cuts[0]))]
        ranges += [sql.SQL("{k} >= {lo} AND {k} < {hi}").format(k=ident, lo=sql.Literal(lo), hi=sql.Literal(hi))
                   for lo, hi in itertools.pairwise(cuts)]
        return [*ranges, sql.SQL("{k} >= {lo}").format(k=ident, lo=sql.Literal(cuts[-1]))]

    def copy_query(self, plan: TablePlan, key_range: sql.Composable | None = None) -> str:
        """The SELECT that COPY runs, parameters bound client-side (COPY takes none): the
        selected columns, then the row digest (see row_digest.py); only `key_range`'s rows if given."""
        where = plan.selection.where if key_range is None else sql.SQL("({}) AND ({})").format(
            plan.selection.where, key_range)
        select = sql_files.load("select_rows").format(
            columns=sql.SQL(", ").join(sql.SQL(c.family.select).format(c=sql.Identifier(c.name))
                                       for c in plan.columns),
            digest=row_digest_sql(plan.columns), table=plan.source.scope, where=where)
        return psycopg.ClientCursor(self.conn).mogrify(select, plan.selection.params)

    def rows(self, plan: TablePlan, query: str, target: pa.Schema, figures: Future | None = None,
             adbc=None, label: str | None = None,
             resources: contextlib.ExitStack | None = None) -> pa.RecordBatchReader:
        """`copy_query`'s rows as Arrow batches in `target`'s types, logging progress every
        PROGRESS_EVERY_S (with an ETA once `figures`, the pending count, is known). Another stream
        of the same snapshot passes its own open `adbc` connection and the `resources` that close
        its cursor before that connection (default: the read's own, closed at its exit)."""
        connection = self.adbc if adbc is None else adbc
        resources = self._resources if resources is None else resources
        if isinstance(connection, str):
            connection = resources.enter_context(contextlib.closing(connect_adbc(connection)))
        cursor = resources.enter_context(contextlib.closing(connection.cursor()))
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot)).as_string(self.conn))
        # batches by bytes, whatever the row width (a 64 KB bytea row or a 100-byte one)
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(READ_BATCH_BYTES)})
        cursor.execute(query)
        source = cursor.fetch_record_batch()
        names = [c.name for c in plan.columns] + ["row digest"]  # errors name the source's columns
        return pa.RecordBatchReader.from_batches(target, _converted(source, target, label or plan.label, names,
                                                                    figures))


def connect_adbc(uri: str):
    """An ADBC PostgreSQL connection (~0.2 s: the driver loads the type catalog; worth overlapping).
    `uri`: a libpq URI or connection string (see session.adbc_conninfo); never in an error."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc  # heavy; only the archive task needs it

    try:
        return adbc.connect(uri)
    except adbc_driver_manager.Error as e:
        raise TransientServiceError(f"the ADBC driver could not connect: {without_password(str(e), uri)}") from None


def _converted(source: pa.RecordBatchReader, target: pa.Schema, label: str, names: list[str],
               figures: Future | None) -> Iterator[pa.RecordBatch]:
    started = last_log = time.monotonic()
    rows = 0
    for batch in _decoded(source, target, label, names):
        arrays = [_to_target(array, field, label, name)
                  for array, field, name in zip(batch.columns, target, names, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=target)
        rows += batch.num_rows
        now = time.monotonic()
        if now - last_log >= PROGRESS_EVERY_S:
            rate = rows / (now - started)
            if figures is not None and figures.done() and not figures.exception():
                expected = figures.result()["row_count"]
                log.info("%s: %d/%d rows read, %.0f rows/s, ETA %.0f s", label, rows, expected, rate,
                         max(expected - rows, 0) / rate)
            else:
                log.info("%s: %d rows read, %.0f rows/s (count still running)", label, rows, rate)
            last_log = now
    elapsed = time.monotonic() - started
    log.info("%s: read %d rows in %.1f s (%.0f rows/s)", label, rows, elapsed, rows / elapsed if elapsed else 0)


def _decoded(source: pa.RecordBatchReader, target: pa.Schema, label: str,
             names: list[str]) -> Iterator[pa.RecordBatch]:
    """The driver's batches; a record its COPY decoder refuses is a data error (connection
    faults surface as OSError and are left alone)."""
    batches = iter(source)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except pa.ArrowInvalid as e:
            if "ReadRecord failed" not in str(e):
                raise
            lists = [name for f, name in zip(target, names, strict=True) if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
            raise ArchiveDataError(label, lists[0] if len(lists) == 1 else None,
                                   f"holds a value the binary COPY reader cannot decode "
                                   f"({str(e).strip()}){'' if len(lists) == 1 else f'; list columns: {lists}'}"
                                   ) from None
        yield batch


def _to_target(array: pa.Array, field: pa.Field, label: str, name: str) -> pa.Array:
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if array.type == pa.binary(16) and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
        # a uuid, read as its 16 bytes
        array = uuid_text(array)
    if array.type != field.type:
        try:
            array = array.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            if pa.types.is_decimal(field.type) and pa.types.is_string(array.type):
                nans = pc.sum(pc.equal(pc.utf8_lower(array), "nan")).as_py() or 0
                if nans:
                    raise ArchiveDataError(label, name, f"holds {nans} NaN value(s), which Iceberg's "
                                           f"{field.type} cannot store; exclude them with a condition") from None
            raise ArchiveDataError(label, name, f"cannot be stored as {field.type}: {e}") from None
    if pa.types.is_date32(field.type):
        _check_range(array.view(pa.int32()), _PG_MIN_DAYS, field, label, name)
    elif pa.types.is_timestamp(field.type):
        _check_range(array.view(pa.int64()), _PG_MIN_MICROS, field, label, name)
    return array


def _check_range(values: pa.Array, lowest: int, field: pa.Field, label: str, name: str) -> None:
    smallest = pc.min(values).as_py()
    if smallest is not None and smallest < lowest:
        bad = pc.sum(pc.less(values, lowest)).as_py()
        raise ArchiveDataError(label, name, f"holds {bad} 'infinity'/'-infinity' value(s) (or a "
                               f"timestamp after 294246 AD), which Iceberg's {field.type} cannot store; "
                               "exclude them with a condition")

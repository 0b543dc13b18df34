"""The local engine of lakehouse SQL: DuckDB computes, pyiceberg commits. Plain Python: the caller
hands in a DuckDB connection factory (extensions loaded, S3 secret set), the pyiceberg catalog and a
Glue client, all configured from the same connection Athena would use.

Every table a statement names is a view in DuckDB: an Iceberg table over `iceberg_scan` of its
current metadata (the MERGE target over exactly the metadata the commit builds on), a Glue JSON
table (Bronze) over `read_json` of its location with its partition columns and `"$path"`, as
Athena shows them. A commit that loses a race with another writer is recomputed on the new state,
so two runs merging the same event ids at once still insert each id once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from archiveflow.lakehouse.statements import (
    MergePlan,
    UnsupportedStatement,
    duckdb_sql,
    iceberg_table_def,
    merge_plan,
)

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
# pyiceberg re-applies a commit that lost a race on the winner's snapshot by itself: right for a
# blind append, wrong for a MERGE, whose rows were computed from the older snapshot (the shared
# event ids would be inserted twice). The engine recomputes instead, so pyiceberg must not retry.
NO_BLIND_RETRIES = {"commit.retry.num-retries": "0"}
DUCKDB_MEMORY_LIMIT = "512MB"
MAX_JSON_LINE = 64 << 20          # Bronze lines may be long (Bronze accepts up to 32 MiB)
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
    """One DuckDB connection for all the statements run through it (`close()` it when done)."""

    def __init__(self, connect: Callable[[], Any], catalog, glue, database: str) -> None:
        self.connect, self.catalog, self.glue, self.database = connect, catalog, glue, database
        self._con = None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def run(self, tree: exp.Expression, snapshot_properties: dict[str, str] | None = None) -> LocalResult:
        started = time.monotonic()
        if isinstance(tree, exp.Create):
            result = self._create(tree)
        elif isinstance(tree, exp.Merge):
            result = self._merge(tree, snapshot_properties or {})
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
        table = self.catalog.create_table_if_not_exists(
            identifier, schema=definition.schema(), location=definition.location,
            partition_spec=definition.partition_spec(), properties=properties)
        log.info("Iceberg table %s at %s", identifier, table.location())
        return LocalResult("CREATE TABLE", table=identifier)

    def _select(self, tree: exp.Expression) -> LocalResult:
        cursor = self._connection(tree, {}).execute(duckdb_sql(tree))
        return LocalResult("SELECT", rows=cursor.fetchall(), columns=[d[0] for d in cursor.description])

    def _merge(self, tree: exp.Merge, snapshot_properties: dict[str, str]) -> LocalResult:
        from pyiceberg.exceptions import CommitFailedException

        identifier = f"{self.database}.{tree.this.name}"
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self.catalog.load_table(identifier)
            if any(table.properties.get(k) != v for k, v in NO_BLIND_RETRIES.items()):
                table = table.transaction().set_properties(NO_BLIND_RETRIES).commit_transaction()
            partition_by = tuple(table.schema().find_column_name(f.source_id) for f in table.spec().fields)
            plan = merge_plan(tree, partition_by)
            try:
                return self._merge_once(tree, table, plan, snapshot_properties)
            except CommitFailedException as err:
                log.warning("commit to %s lost a race with another writer (attempt %s): %s; recomputing",
                            identifier, attempt, err)
        raise CommitFailedException(f"{identifier}: {COMMIT_ATTEMPTS} commits in a row lost a race")

    def _merge_once(self, tree: exp.Merge, table, plan: MergePlan, snapshot_properties: dict[str, str]) -> LocalResult:
        con = self._connection(tree, {plan.target: table.metadata_location})
        if plan.kind == "insert":
            rows = _as_table_rows(con.execute(plan.rows_sql).fetch_arrow_table(), table)
            if rows.num_rows:
                table.append(rows, snapshot_properties=snapshot_properties)
        else:
            rows = self._upsert(con, table, plan, snapshot_properties)
        snapshot = table.current_snapshot() if rows.num_rows else None
        return LocalResult(f"MERGE ({plan.kind})", table=".".join(table.name()), rows_written=rows.num_rows,
                           snapshot_id=snapshot.snapshot_id if snapshot else None)

    def _upsert(self, con, table, plan: MergePlan, snapshot_properties: dict[str, str]):
        import pyarrow as pa
        from pyiceberg.expressions import And, EqualTo, Or

        partition_by = [table.schema().find_column_name(f.source_id) for f in table.spec().fields]
        con.execute(f"CREATE OR REPLACE TEMP TABLE source_rows AS {plan.source_sql}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE new_rows AS {plan.rows_sql}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT {', '.join(partition_by)} FROM new_rows")
        new_rows = _as_table_rows(con.execute("SELECT * FROM new_rows").fetch_arrow_table(), table)
        if not new_rows.num_rows:
            return new_rows
        kept = _as_table_rows(con.execute(plan.partition_rows_sql).fetch_arrow_table(), table)
        partitions = []
        for values in con.execute("SELECT * FROM touched").fetchall():
            terms = [EqualTo(name, value.isoformat() if hasattr(value, "isoformat") else value)
                     for name, value in zip(partition_by, values, strict=True)]
            partitions.append(terms[0] if len(terms) == 1 else And(*terms))
        overwrite_filter = partitions[0] if len(partitions) == 1 else Or(*partitions)
        table.overwrite(pa.concat_tables([new_rows, kept]), overwrite_filter=overwrite_filter,
                        snapshot_properties=snapshot_properties)
        return new_rows

    # --- DuckDB views of the catalog tables ---------------------------------------------------

    def _connection(self, tree: exp.Expression, metadata_locations: dict[str, str]):
        if self._con is None:
            self._con = self.connect()
            self._con.execute("SET TimeZone = 'UTC'")  # Athena's timestamps are UTC wall-clock times
            self._con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")  # spills beyond, keeps the task small
        for name in referenced_tables(tree):
            query = self._view_query(name, metadata_locations.get(name))
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


def _as_table_rows(arrow, table):
    """DuckDB's result in the Iceberg table's column order and types."""
    target = table.schema().as_arrow()
    return arrow.select(target.names).cast(target)


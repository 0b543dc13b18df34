"""The archive index of the deployment, in the mode the Airflow Variable `archiveflow_archive_index_mode` names.

- `dynamodb` (the default: deployments indexed before the catalog keep working unchanged): the
  `archive-index` DynamoDB table, millisecond look-ups.
- `catalog`: the Iceberg table `archive_catalog` in the archive Glue database, read through the
  `lakehouse_sql` connection's engine (Athena on AWS, DuckDB locally) from `include/sql/deep_archive/`.

A Variable, not a connection extra: the mode is a property of the deployment's archive (which index
the packing worker writes and every restore reads), not of how to reach a service, and it is read at
run time by the plan, which hands it to the packing worker. Switching it means migrating the index
first (`python -m archiveflow.deep_archive.migrate_index --to catalog|dynamodb`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from archiveflow import resources
from archiveflow.hooks.lakehouse_sql import LakehouseSqlError, LakehouseSqlHook

INDEX_MODE_VARIABLE = "archiveflow_archive_index_mode"
INVENTORY_TABLE_SQL = "deep_archive/inventory_table.sql"
INVENTORY_DROP_SQL = "deep_archive/inventory_table_drop.sql"
INVENTORY_TABLES = "archive_plan_inventories/"  # under the athena-results bucket: the reports' symlink files
ATHENA_INTEGERS = frozenset({"bigint", "integer", "int", "smallint", "tinyint"})


def index_mode() -> str:
    """The deployment's index mode (the Variable, read at run time)."""
    from airflow.sdk import Variable

    from archiveflow.deep_archive.catalog import MODES
    from archiveflow.errors import BadRequest

    mode = Variable.get(INDEX_MODE_VARIABLE, default="dynamodb")
    if mode not in MODES:
        raise BadRequest(f"Variable {INDEX_MODE_VARIABLE}", f"is {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def catalog_identifier() -> str:
    from archiveflow.deep_archive.catalog import TABLE

    return f"{resources.glue_database('archive')}.{TABLE}"


def warehouse() -> str:
    return f"s3://{resources.bucket('warehouse')}/"


@contextmanager
def archive_index(aws_conn_id: str = "aws_default", lakehouse_sql_conn_id: str = "lakehouse_sql", *,
                  writing: bool = False) -> Iterator[tuple[Any, Callable[[], dict]]]:
    """(the index to hand the planner, the worker's plan and the restore look-up, a function giving
    what its queries cost so far). In the `catalog` mode, `writing` (the planner, whose workers append
    to it) creates the table if missing; a reader (the restore look-up) never touches pyiceberg, and
    finds nothing archived where the table does not exist yet."""
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    if index_mode() == "dynamodb":
        yield DynamoDBHook(aws_conn_id=aws_conn_id).conn, lambda: {"index_mode": "dynamodb"}
        return
    hook = ArchiveCatalogHook(lakehouse_sql_conn_id)
    try:
        if writing:
            hook.ensure_table()
        yield hook.index(), hook.usage
    finally:
        hook.close()


class ArchiveCatalogHook(LakehouseSqlHook):
    """Runs the archive catalog's SELECT files on the `lakehouse_sql` connection's engine and counts
    what they cost (Athena: bytes scanned, billed with its 10 MB minimum)."""

    hook_name = "Archive catalog (Athena or DuckDB)"

    def __init__(self, lakehouse_sql_conn_id: str = LakehouseSqlHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(lakehouse_sql_conn_id, **kwargs)
        self.queries: list[dict] = []
        self._local = None

    @cached_property
    def _iceberg(self):
        from archiveflow.hooks.iceberg import IcebergCatalogHook

        return IcebergCatalogHook(self.aws_conn_id)

    def ensure_table(self):
        """The catalog table, created from its SQL file's definition if missing (pyiceberg, on either engine)."""
        from archiveflow.deep_archive import catalog

        return catalog.ensure_table(self._iceberg.catalog, catalog_identifier(), warehouse())

    def index(self):
        from archiveflow.deep_archive.catalog import CatalogIndex

        return CatalogIndex(self.select, catalog_identifier(), lambda: self._iceberg.catalog, engine=self)

    def select(self, sql_file: str, parameters: Mapping[str, Any], variables: Mapping[str, str] | None = None
               ) -> list[dict]:
        """Rows (as dicts) of one SELECT file of `include/sql/`, its `:name` parameters bound."""
        from archiveflow.lakehouse.statements import load_statement

        tree = load_statement(sql_file, parameters, variables)
        started = time.monotonic()
        try:
            rows, scanned = self._athena(tree) if self.engine == "athena" else self._duckdb(tree)
        except Exception:
            if self._table_exists():
                raise
            rows, scanned = [], 0  # nothing was archived in the catalog mode yet (the first plan creates it)
        self.queries.append({"sql": sql_file, "engine": self.engine, "rows": len(rows), "bytes_scanned": scanned,
                             "seconds": round(time.monotonic() - started, 3)})
        return rows

    def unload(self, sql_file: str, parameters: Mapping[str, Any], variables: Mapping[str, str] | None = None) -> None:
        """Run one UNLOAD file: the engine writes its rows to S3 (DuckDB's COPY locally)."""
        from archiveflow.lakehouse.statements import athena_sql, load_statement

        tree = load_statement(sql_file, parameters, variables)
        started = time.monotonic()
        if self.engine == "athena":
            scanned = self._athena_run(athena_sql(tree))[1].get("Statistics", {}).get("DataScannedInBytes", 0)
        else:
            self._local_engine().run(tree)
            scanned = None
        self.queries.append({"sql": sql_file, "engine": self.engine, "rows": 0, "bytes_scanned": scanned,
                             "seconds": round(time.monotonic() - started, 3)})

    @contextmanager
    def inventory_table(self, s3, manifest, name: str) -> Iterator[str]:
        """A source's S3 Inventory report as the table ``name`` while open. DuckDB reads the report's files
        (downloaded: ORC goes through pyarrow); Athena an external table of them, dropped after, over a
        symlink file listing them (written beside Athena's results)."""
        from archiveflow.deep_archive import inventory

        if self.engine == "duckdb":
            with tempfile.TemporaryDirectory(prefix="inventory-") as folder:
                inventory.download(s3, manifest, Path(folder))
                self._local_engine().define_view(
                    name, lambda con: inventory.relation(con, manifest, Path(folder)).create_view(name))
                yield name
            return
        bucket = resources.bucket("athena-results")
        s3.put_object(Bucket=bucket, Key=f"{INVENTORY_TABLES}{name}/symlink.txt", ChecksumAlgorithm="CRC32",
                      Body="".join(f"s3://{manifest.bucket}/{key}\n" for key in manifest.keys).encode())
        self._athena_ddl(INVENTORY_TABLE_SQL, {"table": name, "format": manifest.file_format,
                                               "columns": inventory.athena_columns(manifest),
                                               "location": f"s3://{bucket}/{INVENTORY_TABLES}{name}/"})
        try:
            yield name
        finally:
            self._athena_ddl(INVENTORY_DROP_SQL, {"table": name})

    def _athena_ddl(self, sql_file: str, variables: Mapping[str, Any]) -> None:
        """An Athena-only statement (Hive DDL, which sqlglot would not round-trip), sent as rendered."""
        from archiveflow.lakehouse.statements import render

        self._athena_run(render(sql_file, variables))

    def _local_engine(self):
        from archiveflow.lakehouse.local_engine import LocalLakehouse

        if self._local is None:
            self._local = LocalLakehouse(self.duckdb_connection, self._iceberg.get_catalog, self._iceberg.get_conn,
                                         resources.glue_database("archive"))
        return self._local

    def usage(self) -> dict:
        """What the look-ups cost so far: queries, bytes scanned (Athena) and USD."""
        from archiveflow.deep_archive.cost import athena_query_usd

        athena = [q for q in self.queries if q["engine"] == "athena"]
        return {"index_mode": "catalog", "engine": self.engine, "queries": len(self.queries),
                "bytes_scanned": sum(q["bytes_scanned"] or 0 for q in athena),
                "usd": round(sum(athena_query_usd(q["bytes_scanned"] or 0) for q in athena), 6)}

    def _table_exists(self) -> bool:
        glue = self._iceberg.get_conn()
        database, table = catalog_identifier().split(".")
        try:
            glue.get_table(DatabaseName=database, Name=table)
        except glue.exceptions.EntityNotFoundException:
            return False
        return True

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None

    def _duckdb(self, tree) -> tuple[list[dict], None]:
        result = self._local_engine().run(tree)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows], None

    def _athena_run(self, sql: str) -> tuple[str, dict]:
        """Submit one statement and wait for it: (query id, its QueryExecution)."""
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        athena = AthenaHook(aws_conn_id=self.aws_conn_id)
        workgroup = self.extra.get("workgroup") or resources.athena_workgroup("lakehouse")
        output = self.extra.get("output_location") or f"s3://{resources.bucket('athena-results')}/archive_catalog/"
        query_id = athena.run_query(sql, query_context={"Database": resources.glue_database("archive")},
                                    result_configuration={"OutputLocation": output}, workgroup=workgroup)
        state = athena.poll_query_status(query_id, sleep_time=1)
        execution = athena.get_conn().get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if state != "SUCCEEDED":
            reason = execution["Status"].get("StateChangeReason", "")
            raise LakehouseSqlError(f"Athena query {query_id} {state}: {reason}")
        return query_id, execution

    def _athena(self, tree) -> tuple[list[dict], int]:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        from archiveflow.lakehouse.statements import athena_sql

        athena = AthenaHook(aws_conn_id=self.aws_conn_id)
        query_id, execution = self._athena_run(athena_sql(tree))
        rows: list[dict] = []
        for number, page in enumerate(athena.get_query_results_paginator(query_id)):
            columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            data = page["ResultSet"]["Rows"][1 if number == 0 else 0:]  # the first row holds the names
            rows += [{c["Name"]: _athena_value(c["Type"], cell.get("VarCharValue"))
                      for c, cell in zip(columns, row["Data"], strict=True)} for row in data]
        return rows, execution.get("Statistics", {}).get("DataScannedInBytes", 0)


def _athena_value(kind: str, text: str | None):
    """Athena returns every value as text: integers back to int."""
    if text is None:
        return None
    return int(text) if kind in ATHENA_INTEGERS else text

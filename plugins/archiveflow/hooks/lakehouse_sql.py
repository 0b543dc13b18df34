"""Run lakehouse SQL (Athena/Trino dialect) on the engine the connection names.

The `lakehouse_sql` connection's extra says `{"engine": "athena", "workgroup": ...}` on AWS,
or `{"engine": "duckdb"}` where Athena cannot execute (the local stack: the emulator accepts
Athena queries but runs none). DuckDB then reads the same Glue-catalogued Iceberg tables from
the same S3: every `database.table` the query names becomes a view over the table's current
Iceberg metadata. DAGs never know which engine ran their SQL.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import sqlglot
from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook
from airflow.sdk import BaseHook

from archiveflow.hooks.client_settings import AwsClientSettings

ENGINES = ("athena", "duckdb")
# Extensions ship as PyPI wheels (duckdb-extension-*): loaded from disk, never downloaded.
DUCKDB_EXTENSIONS = ("httpfs", "avro", "iceberg")  # S3 keys are given explicitly: no `aws` needed


class LakehouseSqlError(RuntimeError):
    pass


class LakehouseSqlHook(BaseHook):
    conn_name_attr = "lakehouse_sql_conn_id"
    default_conn_name = "lakehouse_sql"
    conn_type = "generic"
    hook_name = "Lakehouse SQL (Athena or DuckDB)"

    def __init__(self, lakehouse_sql_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lakehouse_sql_conn_id = lakehouse_sql_conn_id

    @cached_property
    def extra(self) -> dict[str, Any]:
        return self.get_connection(self.lakehouse_sql_conn_id).extra_dejson

    @property
    def engine(self) -> str:
        engine = self.extra.get("engine", "athena")
        if engine not in ENGINES:
            raise LakehouseSqlError(
                f"connection {self.lakehouse_sql_conn_id!r}: extra.engine is {engine!r}, expected one of {ENGINES}"
            )
        return engine

    @property
    def aws_conn_id(self) -> str:
        return self.extra.get("aws_conn_id", "aws_default")

    def get_records(self, sql: str, parameters: list[Any] | None = None) -> list[tuple]:
        """Run one statement with positional `?` parameters; return its rows."""
        if self.engine == "duckdb":
            return self._duckdb_records(sql, parameters or [])
        return self._athena_records(sql, parameters or [])

    # --- DuckDB ----------------------------------------------------------------------------

    def duckdb_connection(self):
        """A DuckDB connection with the lakehouse extensions loaded (from disk) and the AWS
        connection's S3 secret set."""
        import duckdb

        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:
            _load_extensions(con)
            self._configure_s3(con)
        except BaseException:
            con.close()
            raise
        return con

    def _duckdb_records(self, sql: str, parameters: list[Any]) -> list[tuple]:
        con = self.duckdb_connection()
        try:
            for database, table in referenced_tables(sql):
                location = self._iceberg_metadata_location(database, table)
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
                con.execute(f"CREATE VIEW \"{database}\".\"{table}\" AS SELECT * FROM iceberg_scan('{location}')")
            return con.execute(sql, parameters).fetchall()
        finally:
            con.close()

    def _configure_s3(self, con) -> None:
        options = AwsClientSettings.from_connection(self.aws_conn_id).duckdb_s3_secret()
        body = ", ".join(
            f"{key} {value}" if value in ("true", "false") else f"{key} '{value}'" for key, value in options.items()
        )
        con.execute(f"CREATE OR REPLACE SECRET lakehouse_s3 (TYPE s3, {body})")

    def _iceberg_metadata_location(self, database: str, table: str) -> str:
        glue = GlueCatalogHook(aws_conn_id=self.aws_conn_id)
        try:
            parameters = glue.get_table(database, table).get("Parameters", {})
        except Exception as err:  # the Glue client raises a service-specific EntityNotFoundException
            raise LakehouseSqlError(f"Glue table {database}.{table} not found: {err}") from err
        location = parameters.get("metadata_location")
        if not location or parameters.get("table_type", "").upper() != "ICEBERG":
            raise LakehouseSqlError(f"Glue table {database}.{table} is not an Iceberg table")
        return location

    # --- Athena ----------------------------------------------------------------------------

    def _athena_records(self, sql: str, parameters: list[Any]) -> list[tuple]:
        athena = AthenaHook(aws_conn_id=self.aws_conn_id)
        request: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.extra.get("workgroup", "primary")}
        if parameters:
            request["ExecutionParameters"] = [_athena_literal(p) for p in parameters]
        query_id = athena.get_conn().start_query_execution(**request)["QueryExecutionId"]
        state = athena.poll_query_status(query_id, sleep_time=2)
        if state != "SUCCEEDED":
            reason = athena.get_state_change_reason(query_id)
            raise LakehouseSqlError(f"Athena query {query_id} {state}: {reason}")
        rows: list[tuple] = []
        for page in athena.get_query_results_paginator(query_id):
            for row in page["ResultSet"]["Rows"]:
                rows.append(tuple(cell.get("VarCharValue") for cell in row["Data"]))
        return rows[1:]  # the first row holds the column names


def referenced_tables(sql: str) -> list[tuple[str, str]]:
    """The `database.table` names a query reads (CTE names and bare names are not catalog tables)."""
    tree = sqlglot.parse_one(sql, read="athena")
    ctes = {cte.alias_or_name for cte in tree.find_all(sqlglot.exp.CTE)}
    found = []
    for table in tree.find_all(sqlglot.exp.Table):
        if table.db and table.name not in ctes and (table.db, table.name) not in found:
            found.append((table.db, table.name))
    return found


def _load_extensions(con) -> None:
    import importlib

    version = con.execute("PRAGMA version").fetchone()[0]
    for name in DUCKDB_EXTENSIONS:
        package = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        con.execute(f"LOAD '{package / 'extensions' / version / f'{name}.duckdb_extension'}'")


def _athena_literal(value: Any) -> str:
    # Athena's ExecutionParameters are SQL literals as strings.
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        return "NULL"
    return str(value)


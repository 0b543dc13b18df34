"""The request checked against a real source: every bad name or missing prerequisite is named,
and nothing reads table data."""

from __future__ import annotations

import pytest
from psycopg import sql

from archiveflow.errors import BadRequest
from archiveflow.operators.rdbms_archival import RdbmsArchivalBaseOperator
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_tables

pytestmark = pytest.mark.integration


@pytest.fixture
def source(pg):
    conn, schema = pg
    for ddl in ('CREATE TABLE {}."Orders" ("Index" integer PRIMARY KEY, "Index2" integer, note text)',
                "CREATE TABLE {}.nokey (id integer, note text)",
                'CREATE TABLE {}.twins ("Index" integer, "index" integer)'):
        conn.execute(sql.SQL(ddl).format(sql.Identifier(schema)))
    return conn, schema


def plan(conn, schema, tables, **extra):
    return plan_tables(conn, parse_request({"source_schema": schema, "source_table": tables, **extra}), "db")


def test_names_resolve_with_the_documented_case_rules(source):
    conn, schema = source
    (orders,) = plan(conn, schema, [{"table_name": "orders", "condition": "Index < 20 AND index2 IS NULL"}])
    assert (orders.source.name, orders.source.primary_key) == ("Orders", ("Index",))
    assert orders.selection.where.as_string() == '(("Index" < %s) AND ("Index2" IS NULL))'
    assert orders.iceberg_table == f"db.{conn.info.dbname}__{schema}__orders"


@pytest.mark.parametrize(("tables", "extra", "field", "message"), [
    ([{"table_name": "missing"}], {}, "source_table[0].table_name", "does not exist"),
    ([{"table_name": "orders", "condition": "missing_col = 1"}], {}, "source_table[0].condition", "missing_col"),
    ([{"table_name": "orders", "query": "SELECT * FROM nokey"}], {}, "source_table[0].query", "only the table"),
    ([{"table_name": "nokey"}], {"purge": True}, "purge", "no primary key"),
    ([{"table_name": "orders", "query": "SELECT note FROM orders"}], {"purge": True}, "source_table[0].query",
     "purge deletes whole rows, but the query leaves out the columns"),
    ([{"table_name": "twins"}], {}, "source_table[0].table_name", "both become Iceberg column"),
    ([{"table_name": "orders"}, {"table_name": "ORDERS"}], {}, "source_table[1].table_name",
     r"names the same table as source_table\[0\]"),
])
def test_bad_requests_are_named(source, tables, extra, field, message):
    conn, schema = source
    with pytest.raises(BadRequest, match=message) as error:
        plan(conn, schema, tables, **extra)
    assert error.value.field == field


def test_unknown_schema_connection_and_database_are_named(source, local_stack):
    conn, _ = source
    with pytest.raises(BadRequest, match="schema 'nope' does not exist") as error:
        plan(conn, "nope", [{"table_name": "orders"}])
    assert error.value.field == "source_schema"
    operator = RdbmsArchivalBaseOperator(task_id="probe")
    for conf, field in [({"glue_connection": "no_such_conn"}, "glue_connection"),
                        ({"source_database": "no_such_db"}, "source_database")]:
        with pytest.raises(BadRequest, match=f"^{field}: "), operator.source(parse_request(conf)):
            pass

"""The source session against the real PostgreSQL: what PostgreSQL refuses fails the request
naming the field; system schemas and anything outside the connection's allow-list are refused;
search_path is pinned on both connections, whatever the connection's options say, so a function
planted in the path changes nothing; the ADBC connection keeps every libpq parameter."""

from __future__ import annotations

import json
import os
import traceback
import uuid

import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from archiveflow.errors import BadRequest, TransientServiceError
from archiveflow.operators.rdbms_archival import RdbmsArchivalBaseOperator
from archiveflow.rdbms_archival.allowed_sources import NO_ALLOW_LIST, AllowedSources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import SnapshotRead, connect_adbc, plan_tables
from devstack import postgres

pytestmark = pytest.mark.integration


@pytest.fixture
def source(pg):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {}.t (id integer PRIMARY KEY, v varchar(10), note text)")
                 .format(sql.Identifier(schema)))
    conn.execute(sql.SQL("INSERT INTO {}.t VALUES (1, 'ABC', 'x'), (2, 'abd', NULL), (3, NULL, 'y')")
                 .format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE TABLE {}.other (id integer PRIMARY KEY)").format(sql.Identifier(schema)))
    return conn, schema


def plan(conn, schema, tables, allowed=NO_ALLOW_LIST):
    request = parse_request({"source_schema": schema, "source_table": tables})
    return plan_tables(conn, request, "db", allowed)


@pytest.mark.parametrize(("table", "field", "message"), [
    ({"condition": "id < 'abc'"}, "condition", "invalid input syntax for type integer"),
    ({"condition": "note = 1"}, "condition", "operator does not exist: text = integer"),
    ({"condition": "id = 1 / 0"}, "condition", "division by zero"),
    ({"condition": "id > 9223372036854775807 + 1"}, "condition", "bigint out of range"),
    ({"condition": "id = 1", "query": "SELECT * FROM t WHERE note < 5"}, "query", "operator does not exist"),
    ({"condition": "note < 5", "query": "SELECT * FROM t WHERE id > 0"}, "condition", "operator does not exist"),
    ({"condition": "CAST(note AS date) > DATE '2024-02-30'"}, "condition", "date/time field value out of range"),
])
def test_what_postgresql_refuses_fails_the_request_naming_the_field(source, table, field, message):
    conn, schema = source
    with pytest.raises(BadRequest) as error:
        plan(conn, schema, [{"table_name": "t", **table}])
    assert error.value.field == f"source_table[0].{field}"
    assert "PostgreSQL refuses it" in str(error.value) and message in str(error.value)


@pytest.mark.parametrize(("schema", "table"), [
    ("pg_catalog", "pg_authid"), ("PG_CATALOG", "pg_class"), ("information_schema", "tables"),
    ("pg_toast", None),
])
def test_system_schemas_are_never_a_source(source, schema, table):
    conn, _ = source
    if table is None:  # any toast table there
        table = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'pg_toast'::regnamespace "
                             "AND relkind = 't' LIMIT 1").fetchone()[0]
    with pytest.raises(BadRequest, match="system schema") as error:
        plan(conn, schema, [{"table_name": table}])
    assert error.value.field == "source_schema"


def test_the_connection_allow_list_limits_schemas_and_tables(source):
    conn, schema = source
    assert [p.label for p in plan(conn, schema, [{"table_name": "t"}], AllowedSources((f"{schema}.t",)))] == [
        f"{schema}.t"]
    assert len(plan(conn, schema, [{"table_name": "t"}, {"table_name": "other"}], AllowedSources((schema,)))) == 2
    with pytest.raises(BadRequest, match="not in the source connection's archiveflow_allowed_sources") as error:
        plan(conn, schema, [{"table_name": "t"}, {"table_name": "other"}], AllowedSources((f"{schema}.t",)))
    assert error.value.field == "source_table[1].table_name"
    with pytest.raises(BadRequest, match=f"schema '{schema}' is not in") as error:
        plan(conn, schema, [{"table_name": "t"}], AllowedSources(("sales", "crm.customers")))
    assert error.value.field == "source_schema"


def test_a_condition_on_an_extension_type_is_refused(source):
    conn, schema = source
    if not conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'citext'").fetchone()[0]:
        pytest.skip("citext is not installed on this server")
    conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS citext SCHEMA {}").format(sql.Identifier(schema)))
    where = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'citext'").fetchone()[0]
    conn.execute(sql.SQL("CREATE TABLE {}.emails (id integer PRIMARY KEY, email {})").format(
        sql.Identifier(schema), sql.Identifier(where, "citext")))
    with pytest.raises(BadRequest, match="outside the archive's search_path") as error:
        plan(conn, schema, [{"table_name": "emails", "condition": "id > 0 AND email = 'A@example.com'"}])
    assert error.value.field == "source_table[0].condition"
    assert plan(conn, schema, [{"table_name": "emails", "condition": "id > 0"}])[0].label == f"{schema}.emails"


@pytest.fixture
def planted_connection(source, local_stack, monkeypatch):
    """A connection whose options put the test schema first in search_path, where a `lower(varchar)`
    (a closer match for a varchar column than pg_catalog.lower(text)) has been planted."""
    conn, schema = source
    conn.execute(sql.SQL("CREATE FUNCTION {}.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT 'planted' $$")
                 .format(sql.Identifier(schema)))
    password = f"pw-{uuid.uuid4().hex}"  # trust authentication: accepted and ignored
    extra = {"options": f"-c search_path={schema},public -c DateStyle=SQL,DMY", "application_name": "af-test-10",
             "connect_timeout": "7", "sslmode": "disable", "sslrootcert": "/nonexistent/root.crt",
             "archiveflow_allowed_sources": [schema]}
    monkeypatch.setenv("AIRFLOW_CONN_PLANTED", json.dumps({
        "conn_type": "postgres", "host": postgres.PG_HOST, "port": postgres.PG_PORT, "login": postgres.PG_USER,
        "password": password, "schema": local_stack.config.source_database, "extra": extra}))
    return conn, schema, password


def test_search_path_is_pinned_on_both_connections_and_wins_over_the_options(planted_connection, catalog):
    conn, schema, password = planted_connection
    with conn.transaction():  # the trap is real: with the connection's search_path, lower(v) is the planted one
        conn.execute(sql.SQL("SET LOCAL search_path = {}, public").format(sql.Identifier(schema)))
        assert conn.execute("SELECT count(*) FROM t WHERE lower(v) = 'planted'").fetchone()[0] == 3
    operator = RdbmsArchivalBaseOperator(task_id="probe")
    request = parse_request({"glue_connection": "planted", "source_schema": schema,
                             "source_table": [{"table_name": "t", "condition": "lower(v) = 'abc'"}]})
    with operator.source(request) as (source_conn, hook):
        assert hook.replaced_search_path == f"{schema},public"
        assert source_conn.execute("SHOW search_path").fetchone()[0] == "pg_catalog, pg_temp"
        plan = operator.plan(source_conn, request, 0)
        with SnapshotRead(source_conn, operator.adbc_uri(hook)) as read:
            assert read.figures(plan)["row_count"] == 1
        adbc = connect_adbc(operator.adbc_uri(hook))
        try:
            with adbc.cursor() as cursor:
                cursor.execute("SELECT current_setting('search_path') AS p, current_setting('DateStyle') AS d, "
                               "current_setting('application_name') AS a")
                assert cursor.fetchall() == [("pg_catalog,pg_temp", "SQL, DMY", "af-test-10")]
        finally:
            adbc.close()
        result = archive_table(source_conn, operator.adbc_uri(hook), catalog, plan, request, "run-planted")
    assert result["rows_archived"] == 1 == result["source"]["row_count"]


def test_the_adbc_connection_string_keeps_every_libpq_parameter(planted_connection):
    _, schema, password = planted_connection
    operator = RdbmsArchivalBaseOperator(task_id="probe")
    request = parse_request({"glue_connection": "planted", "source_schema": schema})
    with operator.source(request) as (_, hook):
        params = conninfo_to_dict(operator.adbc_uri(hook))
    assert {k: params.get(k) for k in ("application_name", "connect_timeout", "sslmode", "sslrootcert",
                                       "password", "port", "user")} == {
        "application_name": "af-test-10", "connect_timeout": "7", "sslmode": "disable",
        "sslrootcert": "/nonexistent/root.crt", "password": password, "port": str(postgres.PG_PORT),
        "user": postgres.PG_USER}
    assert params["options"] == f"-c search_path={schema},public -c DateStyle=SQL,DMY -c search_path=pg_catalog,pg_temp"


def test_a_unix_socket_host_survives(source, local_stack, monkeypatch):
    conn, schema = source
    directory = conn.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0].strip()
    if not os.path.exists(os.path.join(directory, f".s.PGSQL.{postgres.PG_PORT}")):
        pytest.skip(f"no PostgreSQL socket in {directory}")
    monkeypatch.setenv("AIRFLOW_CONN_SOCKET", json.dumps({
        "conn_type": "postgres", "host": directory, "port": postgres.PG_PORT, "login": postgres.PG_USER,
        "schema": local_stack.config.source_database}))
    operator = RdbmsArchivalBaseOperator(task_id="probe")
    with operator.source(parse_request({"glue_connection": "socket", "source_schema": schema})) as (_, hook):
        adbc = connect_adbc(operator.adbc_uri(hook))
    try:
        with adbc.cursor() as cursor:
            cursor.execute("SELECT inet_server_addr() IS NULL AS over_socket")
            assert cursor.fetchall() == [(True,)]
    finally:
        adbc.close()


def test_an_adbc_connection_error_never_shows_the_password():
    password = f"pw-{uuid.uuid4().hex}"
    with pytest.raises(TransientServiceError) as error:
        connect_adbc(f"host=127.0.0.1 port=1 user=nobody password={password} dbname=x connect_timeout=2")
    shown = "".join(traceback.format_exception(error.value))  # what a task log would print
    assert "could not connect" in shown and password not in shown

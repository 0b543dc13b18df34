"""Source values Iceberg cannot store fail the archive with ArchiveDataError naming the table and
column, before any commit (the operator turns it into a failure without retries); numeric with a
negative scale is archived as its exact text."""

from __future__ import annotations

import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.iceberg_sink import RUN_TAG, snapshot_batches
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import ArchiveDataError, SnapshotRead, plan_table
from archiveflow.rdbms_archival.validation import validate_snapshot

pytestmark = pytest.mark.integration


def _plan(conn, schema: str, table: str):
    request = parse_request({"source_schema": schema, "source_table": [{"table_name": table}]})
    return request, plan_table(conn, request, 0, resources.glue_database("archive"))


@pytest.mark.parametrize(("declared", "value", "expected"), [
    ("numeric(10, 2)", "'NaN'", "1 NaN value"),
    ("date", "'infinity'", "'infinity'/'-infinity'"),
    ("date", "'-infinity'", "'infinity'/'-infinity'"),
    ("timestamp", "'infinity'", "'infinity'/'-infinity'"),
    ("timestamptz", "'-infinity'", "'infinity'/'-infinity'"),
    ("timestamp", "'294270-01-01'", "after 294246 AD"),
    ("integer[]", "'[5:6]={{1,2}}'", "cannot decode"),
    ("integer[]", "ARRAY[[1, 2], [3, 4]]", "holds 2-dimensional arrays"),  # the driver would flatten it
])
def test_values_iceberg_cannot_store_fail_naming_table_and_column(pg, local_stack, catalog, declared, value, expected):
    conn, schema = pg
    table = sql.Identifier(schema, "BadValues")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, ok text, \"Odd\" " + declared + ")").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'x', NULL FROM generate_series(1, 5000) g").format(table))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (5001, 'y', " + value + ")").format(table))
    request, plan = _plan(conn, schema, "BadValues")

    with pytest.raises(ArchiveDataError) as failed:
        archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-bad")
    assert failed.value.table == f"{schema}.BadValues" and failed.value.column == "Odd"
    assert str(failed.value).startswith(f"{schema}.BadValues: column 'Odd' ") and expected in str(failed.value)
    assert not [s for s in catalog.load_table(plan.iceberg_table).snapshots() if s.summary.get(RUN_TAG) == "run-bad"]


def test_numeric_with_negative_scale_is_archived_as_exact_text(pg, local_stack, catalog):
    conn, schema = pg
    table = sql.Identifier(schema, "scaled")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, hundreds numeric(5, -2), tiny numeric(3, 5))")
                 .format(table))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 12345, 0.00123), (2, NULL, NULL)").format(table))
    request, plan = _plan(conn, schema, "scaled")
    assert [c.numeric_scale for c in plan.columns] == [None, -2, 5]

    archived = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-1")
    iceberg = catalog.load_table(plan.iceberg_table)
    rows = sorted((r for b in snapshot_batches(iceberg, archived["snapshot_id"], ["id", "hundreds", "tiny"], 10)
                   for r in b.to_pylist()), key=lambda r: r["id"])
    assert rows == [{"id": 1, "hundreds": "12300", "tiny": "0.00123"}, {"id": 2, "hundreds": None, "tiny": None}]
    assert validate_snapshot(iceberg, archived, plan.columns, batch_size=10)["passed"]


def test_checksum_query_errors_name_the_column_and_keep_the_snapshot(pg, local_stack):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, fine date, endless date)")
                 .format(sql.Identifier(schema, "days")))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (1, '2020-01-01', 'infinity')").format(sql.Identifier(schema, "days")))
    _, plan = _plan(conn, schema, "days")
    with SnapshotRead(conn, local_stack.pg_dsn) as read:
        with pytest.raises(ArchiveDataError, match="cannot subtract infinite dates") as failed:
            read.figures(plan)
        assert failed.value.column == "endless"
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the snapshot's transaction is still usable

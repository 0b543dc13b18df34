"""Every supported type, NULLs, extremes and unicode survive PostgreSQL -> Iceberg, and the
validation's checksums agree; a retry never appends twice."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.iceberg_sink import snapshot_batches
from archiveflow.rdbms_archival.naming import ARCHIVE_COLUMNS, ROW_DIGEST_COLUMN, RUN_COLUMN
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_tables
from archiveflow.rdbms_archival.validation import validate_snapshot

pytestmark = pytest.mark.integration

TYPES_DDL = """
CREATE TYPE {schema}.mood AS ENUM ('happy', 'sad', 'ünïcode');
CREATE TABLE {schema}."Everything" (
    "Index" integer PRIMARY KEY, i2 smallint, i8 bigint, n numeric(38, 10), n2 numeric(5, 2), nu numeric,
    r real, d double precision, t text, v varchar(10), c char(4), b boolean, dt date, tm time,
    ts timestamp, tstz timestamptz, by bytea, u uuid, j json, jb jsonb, ai integer[], at text[],
    ab boolean[], e {schema}.mood, iv interval, "Mixed Case" text)
"""
ROWS = [
    (1, -32768, -9223372036854775808, Decimal("-9999999999999999999999999999.9999999999"), Decimal("999.99"),
     Decimal("NaN"), float("nan"), float("-inf"), "héllo ✓ 𝄞", "", "ab", True, dt.date(1, 1, 1),
     dt.time(0, 0), dt.datetime(1970, 1, 1), dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
     b"\x00\xff", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), '{"k": [1, "ü"]}', '{"b": 1, "a": [true]}',
     [1, None, 3], ["a b", None, 'q"uote', "NULL", "", "back\\slash", "{x}"], [True, False, None], "ünïcode",
     "1 year 2 days", "x"),
    (2, 32767, 9223372036854775807, Decimal("0.0000000001"), Decimal("-999.99"), Decimal("123.456"),
     float("inf"), -0.0, "\t\n", "abcdefghij", "abcd", False, dt.date(9999, 12, 31), dt.time(23, 59, 59, 999999),
     dt.datetime(1900, 1, 1, 0, 0, 0, 1), dt.datetime(1969, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
     b"", uuid.UUID(int=0), "[]", "{}", [], [], [], "sad", "-1 hour", None),
    (3,) + (None,) * 25,
]


@pytest.fixture
def everything(pg):
    conn, schema = pg
    for statement in TYPES_DDL.split(";"):
        conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))
    with conn.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {} VALUES ({})").format(
            sql.Identifier(schema, "Everything"), sql.SQL(", ").join(sql.Placeholder() * 26)), ROWS)
    return conn, schema


def _request(schema: str, **extra):
    return parse_request({"source_schema": schema, "source_table": [{"table_name": "Everything"}], **extra})


def test_every_type_round_trips_and_validates(everything, local_stack, catalog):
    conn, schema = everything
    request = _request(schema)
    (plan,) = plan_tables(conn, request, resources.glue_database("archive"))
    archived = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-1")
    assert archived["rows_archived"] == 3 and archived["source"]["row_count"] == 3

    table = catalog.load_table(plan.iceberg_table)
    rows = sorted((r for b in snapshot_batches(table, archived["snapshot_id"], table.schema().column_names, 100)
                   for r in b.to_pylist()), key=lambda r: r["index"])
    first, second, nulls = rows
    assert first["i2"] == -32768 and first["i8"] == -9223372036854775808
    assert first["n"] == Decimal("-9999999999999999999999999999.9999999999") and second["n2"] == Decimal("-999.99")
    assert first["nu"] == "NaN" and second["nu"] == "123.456"  # unconstrained numeric: exact text
    assert first["r"] != first["r"] and first["d"] == float("-inf") and second["r"] == float("inf")
    assert str(second["d"]) == "-0.0"
    assert first["t"] == "héllo ✓ 𝄞" and first["v"] == "" and first["c"] == "ab" and second["c"] == "abcd"
    assert first["dt"] == dt.date(1, 1, 1) and second["dt"] == dt.date(9999, 12, 31)
    assert second["tm"] == dt.time(23, 59, 59, 999999) and second["ts"] == dt.datetime(1900, 1, 1, 0, 0, 0, 1)
    assert first["tstz"] == dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert second["tstz"] == dt.datetime(1969, 12, 31, 18, 0, tzinfo=dt.UTC)
    assert first["by"] == b"\x00\xff" and second["by"] == b""
    assert first["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert first["j"] == '{"k": [1, "ü"]}' and first["jb"] == '{"a": [true], "b": 1}'
    assert first["ai"] == [1, None, 3] and second["ai"] == []
    assert first["at"] == ["a b", None, 'q"uote', "NULL", "", "back\\slash", "{x}"]
    assert first["ab"] == [True, False, None]
    assert first["e"] == "ünïcode" and first["iv"] == "1 year 2 days" and first["mixed_case"] == "x"
    assert all(v is None for k, v in nulls.items() if k != "index" and k not in ARCHIVE_COLUMNS)
    assert {r[RUN_COLUMN] for r in rows} == {"run-1"} and len({r[ROW_DIGEST_COLUMN] for r in rows}) == 3

    result = validate_snapshot(table, archived, plan.columns, batch_size=2)
    assert result["passed"], result["checks"]
    assert result["target"] == archived["source"]


def test_a_retry_of_the_same_run_reuses_its_snapshot(everything, local_stack, catalog):
    conn, schema = everything
    request = _request(schema)
    (plan,) = plan_tables(conn, request, resources.glue_database("archive"))
    first = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-1")
    conn.execute(sql.SQL("DELETE FROM {} WHERE \"Index\" = 3").format(sql.Identifier(schema, "Everything")))
    again = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-1")
    other_run = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-2")

    assert again["snapshot_id"] == first["snapshot_id"] and not again["appended"]
    assert again["source"] == first["source"]  # the figures recorded with the snapshot, not re-read
    table = catalog.load_table(plan.iceberg_table)
    assert len(table.snapshots()) == 2
    # run-2 finds rows 1 and 2 archived unchanged: it adds nothing
    assert table.scan().to_arrow().num_rows == 3
    assert (other_run["rows_archived"], other_run["rows_skipped"]) == (0, 2)

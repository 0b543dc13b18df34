"""PostgreSQL is the oracle: for each condition, the rows archived to Iceberg and the rows purged
are exactly the rows PostgreSQL selects when it runs the same condition text itself.

The conditions carry literals of every kind the guard accepts (strings with quotes,
backslashes and LIKE escapes; integers at the integer/bigint/numeric boundaries and negative;
decimals and exponents; booleans; NULL; typed date/timestamp/timestamptz literals; casts; the
three interval forms), and the intervals sqlglot used to rewrite ('90 days ago', '1 day 10:00').
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.iceberg_sink import snapshot_batches
from archiveflow.rdbms_archival.purge import purge_rows
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.session import adbc_conninfo, pin_search_path
from archiveflow.rdbms_archival.source import plan_tables
from archiveflow.rdbms_archival.validation import validate_snapshot

pytestmark = pytest.mark.integration

# 120 rows; times relative to now() so the interval conditions split them, fixed ones for typed literals.
TEMPLATE = r"""
CREATE TABLE {template} AS
SELECT g AS id,
       (CASE WHEN g = 1 THEN 32767 WHEN g = 2 THEN -32768 ELSE (g * 37) % 200 - 100 END)::smallint AS i2,
       (g - 60)::bigint * 100000000 AS i8,
       CASE WHEN g % 11 = 0 THEN NULL ELSE round(((g * 7.123) % 100) - 50, 3) END::numeric(12, 3) AS n,
       g / 8.0::float8 AS f,
       CASE g % 6 WHEN 0 THEN 'alpha' || g WHEN 1 THEN 'Beta' || g WHEN 2 THEN 'it''s ' || g
                  WHEN 3 THEN 'back\slash ' || g WHEN 4 THEN '100% ' || g END AS t,
       ('v' || g % 10)::varchar(20) AS v,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g % 3 = 0 END AS b,
       CURRENT_DATE + (g * 4 - 240) AS d,
       DATE '2024-01-01' + g * 3 AS fd,
       TIMESTAMP '2024-01-01' + g * INTERVAL '7 hours' AS fts,
       now() - g * INTERVAL '3 hours' + INTERVAL '90 minutes' AS tstz,
       g * INTERVAL '1 hour' AS iv
FROM generate_series(1, 120) g
"""

CONDITIONS = [
    "t = 'it''s 2'",
    r"t = 'back\slash 3'",  # a backslash is a backslash
    r"t LIKE '100\% %'",  # LIKE's own escape
    "t NOT LIKE 'alpha%' AND t ILIKE '%1%'",
    "lower(t) IN ('beta7', 'beta13', 'nope')",
    "length(t) > 7 AND upper(v) = 'V3'",
    "i2 + 1 > 32767",  # an integer constant: smallint arithmetic would overflow
    "i2 / 7 = 2",  # integer division
    "i8 > 3000000000",  # bigint
    "i8 < -2147483648",  # the sign folded into an integer constant
    "i8 <= 99999999999999999999 AND id <= 3",  # numeric
    "n BETWEEN -12.5 AND 12.5",
    "abs(n) < 1e1",
    "floor(n) >= 40 OR round(n, 1) < -49",
    "coalesce(n, -1000) = -1000",
    "b IS NOT FALSE",
    "NOT b OR v = 'v9'",
    "d < CURRENT_DATE - interval '90 days ago'",  # '90 days ago' is -90 days: d < today + 90
    "tstz BETWEEN now() - interval '1 day 10:00' AND now()",  # 34 hours, not 1 day
    "tstz < now() - interval '-5 days ago'",
    "tstz > now() - INTERVAL '2' DAY",
    "iv > '1 day 10:00'::interval AND iv < CAST('3 days' AS interval)",
    "fd >= DATE '2024-02-01' AND fd < '2024-03-01'",
    "fts < TIMESTAMP '2024-01-03 12:00:00' OR CAST(fts AS date) = '2024-01-05'",
    "tstz > TIMESTAMPTZ '2024-01-01 00:00:00+00' AND -n > 40",
    "f * 2 >= 25.5 AND f < 2.5E1 AND b IS TRUE",
]


def _ids(conn, query) -> set[int]:
    return {r[0] for r in conn.execute(query).fetchall()}  # no parameters: a % is a %


def test_archived_and_purged_rows_are_what_postgresql_selects(pg, local_stack, catalog):
    conn, schema = pg
    template, table = sql.Identifier(schema, "template"), sql.Identifier(schema, "oracle")
    conn.execute(sql.SQL(TEMPLATE).format(template=template))
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {}, PRIMARY KEY (id))").format(table, template))
    every = _ids(conn, sql.SQL("SELECT id FROM {}").format(template))
    mismatches = []
    with psycopg.connect(local_stack.pg_dsn, autocommit=True) as archive_conn:
        pin_search_path(archive_conn)  # as the DAG's connections are
        for number, condition in enumerate(CONDITIONS):
            conn.execute(sql.SQL("TRUNCATE {}").format(table))
            conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, template))
            # the oracle: PostgreSQL runs the condition text itself
            expected = _ids(conn, sql.SQL("SELECT id FROM {} WHERE " + condition).format(table))
            assert expected and expected != every, f"{condition!r} does not split the rows"
            archived, purged = _archive_and_purge(archive_conn, local_stack, catalog, schema, condition, number)
            purged_actual = every - _ids(conn, sql.SQL("SELECT id FROM {}").format(table))
            if archived != expected or purged_actual != expected or purged != len(expected):
                mismatches.append((condition, sorted(expected ^ archived), sorted(expected ^ purged_actual)))
    assert mismatches == [], "condition, ids archived wrongly, ids purged wrongly"
    assert len(CONDITIONS) >= 20


def _archive_and_purge(conn, local_stack, catalog, schema, condition, number) -> tuple[set[int], int]:
    request = parse_request({"source_schema": schema, "purge": True, "batch_size": 1000,
                             "source_table": [{"table_name": "oracle", "condition": condition}]})
    (plan,) = plan_tables(conn, request, resources.glue_database("archive"))
    if catalog.table_exists(plan.iceberg_table):  # the same rows come back each time: a fresh archive, or
        catalog.drop_table(plan.iceberg_table)  # they would be skipped as archived unchanged
    result = archive_table(conn, adbc_conninfo(conn), catalog, plan, request, f"oracle-{number}")
    iceberg = catalog.load_table(plan.iceberg_table)
    validated = validate_snapshot(iceberg, result, plan.columns, 1000)
    archived = {i for batch in snapshot_batches(iceberg, result["snapshot_id"], ["id"], 1000)
                for i in batch.column(0).to_pylist()}
    purge = purge_rows(conn, plan, iceberg, validated, 1000, dry_run=False)
    return archived, purge["deleted"]

"""Purge by primary key in bounded batches: a rerun after a partial purge finishes the job, a row
changed since the archive to no longer match the condition is kept, rows never archived stay."""

from __future__ import annotations

import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.purge import purge_rows
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_table
from archiveflow.rdbms_archival.validation import validate_snapshot

pytestmark = pytest.mark.integration


def test_partial_purge_resumes_and_keeps_what_no_longer_matches(pg, local_stack, catalog):
    conn, schema = pg
    table = sql.Identifier(schema, "events")
    conn.execute(sql.SQL("CREATE TABLE {} (tenant text, seq integer, status text, PRIMARY KEY (tenant, seq))")
                 .format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT 't' || (g % 3), g, CASE WHEN g <= 700 THEN 'closed' ELSE 'open' END "
                         "FROM generate_series(1, 1000) g").format(table))
    request = parse_request({"source_schema": schema, "purge": True, "batch_size": 1000,
                             "source_table": [{"table_name": "events", "condition": "status = 'closed'"}]})
    plan = plan_table(conn, request, 0, resources.glue_database("archive"))
    archived = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-purge")
    iceberg = catalog.load_table(plan.iceberg_table)
    validated = validate_snapshot(iceberg, archived, plan.columns, 1000)

    # As if an earlier attempt died after deleting seq <= 100; and seq 500 reopened since the archive.
    conn.execute(sql.SQL("DELETE FROM {} WHERE seq <= 100").format(table))
    conn.execute(sql.SQL("UPDATE {} SET status = 'open' WHERE seq = 500").format(table))
    result = purge_rows(conn, plan, iceberg, validated, batch_size=64, dry_run=False)

    assert result["archived_keys"] == 700 and result["deleted"] == 599 and result["not_in_source"] == 101
    assert result["kept_changed"] == 0  # seq 500 no longer matches the condition: not a candidate
    remaining = conn.execute(sql.SQL("SELECT array_agg(seq ORDER BY seq) FROM {}").format(table)).fetchone()[0]
    assert remaining == [500, *range(701, 1001)]

"""Wide rows: the archive reads, and validation reads back, batches bounded by bytes, not rows."""

from __future__ import annotations

import pytest
from psycopg import sql

from archiveflow.rdbms_archival import source
from archiveflow.rdbms_archival.iceberg_sink import ROW_DIGEST_COLUMN, arrow_schema, snapshot_batches
from archiveflow.rdbms_archival.naming import iceberg_name

pytestmark = pytest.mark.integration
ROWS = 300  # ~20 MB: 64 KB bytea + 1-8 KB text per row
ROW_BYTES = 64 * 1024 + 8 * 1024


def test_wide_rows_stream_in_batches_bounded_by_bytes(pg, local_stack, archive_and_validate):
    conn, schema = pg
    table = sql.Identifier(schema, "wide")
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, body text, blob bytea)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, repeat(md5(g::text), 32 + g %% 224), "
                         "decode(repeat(md5((g + 1)::text), 2048), 'hex') FROM generate_series(1, %s) g")
                 .format(table), (ROWS,))
    archived = archive_and_validate("run-wide", source_table=[{"table_name": "wide"}], batch_size=1000)
    assert archived.result["rows_archived"] == ROWS and archived.validated["passed"], archived.validated

    with source.SnapshotRead(conn, local_stack.pg_dsn) as read:
        target = arrow_schema(archived.iceberg, archived.plan.columns, (ROW_DIGEST_COLUMN,))
        batches = list(read.rows(archived.plan, read.copy_query(archived.plan), target))
    assert sum(b.num_rows for b in batches) == ROWS
    assert max(b.nbytes for b in batches) <= source.READ_BATCH_BYTES + ROW_BYTES, [b.nbytes for b in batches]

    names = [iceberg_name(c.name) for c in archived.plan.columns]
    back = list(snapshot_batches(archived.iceberg, archived.result["snapshot_id"], names, 1000, 2 * 1024 * 1024))
    assert sum(b.num_rows for b in back) == ROWS
    assert max(b.nbytes for b in back) <= 3 * 1024 * 1024, [b.nbytes for b in back]  # by the mean row width

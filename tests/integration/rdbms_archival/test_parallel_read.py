"""A table read by several connections in one exported snapshot, split by primary-key ranges."""

from __future__ import annotations

import re
import threading

import psycopg
import pyarrow.compute as pc
import pytest
from psycopg import sql

from archiveflow.rdbms_archival import archive
from archiveflow.rdbms_archival.iceberg_sink import RUN_TAG, STREAM_FILES, added_files
from archiveflow.rdbms_archival.source import SnapshotRead

pytestmark = pytest.mark.integration
ROWS = 60_000  # even ids 2..2*ROWS; the odd ones are inserted while the streams read
STREAMS = 3


def test_streams_read_one_snapshot_and_commit_one_snapshot(pg, local_stack, archive_and_validate, monkeypatch):
    conn, schema = pg
    table = sql.Identifier(schema, "orders")
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, amount numeric(12, 2), note text, "
                         "doc jsonb)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT 2 * g, g / 7.0, repeat(md5(g::text), g %% 5), "
                         "jsonb_build_object('g', g) FROM generate_series(1, %s) g").format(table), (ROWS,))
    inserted = threading.Event()
    new_versions, key_ranges = archive._new_versions, SnapshotRead.key_ranges

    def commit_rows(first: int) -> None:
        """From another session: a row in every key range (ids first, first + 4, ...: odd) and past the end."""
        with psycopg.connect(local_stack.pg_dsn, autocommit=True) as writer:
            writer.execute(sql.SQL("INSERT INTO {} SELECT g, 1, 'late', '{{}}' FROM generate_series(%s, %s, 4) g")
                           .format(table), (first, 2 * ROWS + 7))

    def insert_before_the_streams_start(read, *args):
        ranges = key_ranges(read, *args)  # the snapshot is exported; no stream has begun its COPY
        commit_rows(1)
        return ranges

    def insert_once_reading(rows, *args):
        for batch in new_versions(rows, *args):  # the first batch of any stream: the others read or start
            if not inserted.is_set():
                inserted.set()
                commit_rows(3)
            yield batch

    monkeypatch.setattr(SnapshotRead, "key_ranges", insert_before_the_streams_start)
    monkeypatch.setattr(archive, "_new_versions", insert_once_reading)
    archived = archive_and_validate("run-parallel", source_table=[{"table_name": "orders"}],
                                    read_streams=STREAMS, parallel_read_min_mb=0)
    assert inserted.is_set()
    assert archived.result["rows_archived"] == ROWS and archived.validated["passed"], archived.validated
    ids = archived.iceberg.scan(selected_fields=("id",)).to_arrow()["id"]
    assert len(ids) == ROWS and pc.count_distinct(ids).as_py() == ROWS
    assert pc.all(pc.equal(pc.bit_wise_and(ids, 1), 0)).as_py(), "a row committed during the read was archived"
    assert len([s for s in archived.iceberg.snapshots() if s.summary.get(RUN_TAG) == "run-parallel"]) == 1
    # each stream wrote its own files, committed in that one snapshot
    files = added_files(archived.iceberg, archived.result["snapshot_id"])
    streams = {int(re.search(r"/00000-(\d+)-", f).group(1)) // STREAM_FILES for f in files}
    assert streams == set(range(STREAMS)), files

    # the committed figures are the source's as it was: recomputed now, without the late rows
    conn.execute(sql.SQL("DELETE FROM {} WHERE id % 2 = 1").format(table))
    with SnapshotRead(conn, local_stack.pg_dsn) as read:
        assert read.figures(archived.plan) == archived.result["source"]


def test_a_small_table_or_a_key_that_cannot_be_split_is_read_by_one_connection(pg, archive_and_validate):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (code text PRIMARY KEY, n int)").format(sql.Identifier(schema, "codes")))
    conn.execute(sql.SQL("INSERT INTO {} SELECT 'c' || g, g FROM generate_series(1, 500) g")
                 .format(sql.Identifier(schema, "codes")))
    archived = archive_and_validate("run-text-key", source_table=[{"table_name": "codes"}], read_streams=4,
                                    parallel_read_min_mb=0)
    files = added_files(archived.iceberg, archived.result["snapshot_id"])
    assert archived.result["rows_archived"] == 500 and archived.validated["passed"] and len(files) == 1

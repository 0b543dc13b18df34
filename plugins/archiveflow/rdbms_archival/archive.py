"""Archive one table: source snapshot -> one tagged Iceberg snapshot of the rows not archived
unchanged yet (see iceberg_sink for retries and the history the table keeps)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog

from archiveflow.failpoints import failpoint
from archiveflow.lakehouse.commit_conflicts import NO_BLIND_RETRIES, until_committed
from archiveflow.lakehouse.iceberg_writes import abort_open_uploads, discard_uncommitted, run_write_id
from archiveflow.rdbms_archival.iceberg_sink import (
    LEGAL_HOLD,
    LEGAL_HOLD_RELEASED_BY,
    LEGAL_HOLD_SET_BY,
    ROW_DIGEST_COLUMN,
    RUN_COLUMN,
    VERSION_COLUMN,
    arrow_schema,
    commit_once,
    ensure_table,
    find_run_snapshot,
    latest_versions,
    set_properties,
    write_data_files,
)
from archiveflow.rdbms_archival.naming import iceberg_name
from archiveflow.rdbms_archival.request import ArchivalRequest
from archiveflow.rdbms_archival.source import SnapshotRead, TablePlan, connect_adbc
from archiveflow.rdbms_archival.validation import FiguresSum
from archiveflow.units import MiB

log = logging.getLogger(__name__)
FILE_BYTES = 128 * MiB  # Arrow data per Parquet file (~20-40 MB compressed)
ROW_GROUP_BYTES = 8 * 1024 * 1024  # Arrow data per row group of one stream (N streams: 1/N each): bounds memory


def table_properties(plan: TablePlan, request: ArchivalRequest, database: str) -> dict[str, str]:
    """Recorded on the Iceberg table; retention is that of the latest run (the legal hold: `legal_hold`)."""
    return {"archiveflow.source": f"postgresql:///{database}/{plan.label}",
            "archiveflow.retention-months": str(request.retention_policy), **NO_BLIND_RETRIES}


def legal_hold(existing: dict[str, str], request: ArchivalRequest, run_id: str) -> tuple[dict[str, str], dict]:
    """(table properties to set, the hold as recorded for the run). A hold sticks: only a run
    with `release_legal_hold` lifts it; a retry of that run finds its own release."""
    held, set_by = existing.get(LEGAL_HOLD) == "true", existing.get(LEGAL_HOLD_SET_BY)
    if request.legal_hold and not held:
        return {LEGAL_HOLD: "true", LEGAL_HOLD_SET_BY: run_id}, {"held": True, "change": "set", "set_by": run_id}
    if held and not request.release_legal_hold:
        return {}, {"held": True, "change": "kept", "set_by": set_by}
    if held or existing.get(LEGAL_HOLD_RELEASED_BY) == run_id:
        return ({LEGAL_HOLD: "false", LEGAL_HOLD_RELEASED_BY: run_id},
                {"held": False, "change": "released", "released_by": run_id, "set_by": set_by})
    return {}, {"held": False, "change": "none"}


class UnchangedRows:
    """Which rows of a batch have, as the newest archived version of their key, the same digest."""

    def __init__(self, latest: pa.Table, key: Sequence[str], schema: pa.Schema):
        digests = latest[ROW_DIGEST_COLUMN].to_numpy()
        order = np.argsort(digests, kind="stable")
        self.digests = digests[order]  # sorted, for searchsorted
        self.keys = {k: latest[k].take(order).combine_chunks().cast(schema.field(k).type) for k in key
                     } if len(digests) else {}

    def mask(self, batch: pa.RecordBatch) -> np.ndarray:
        if not len(self.digests):
            return np.zeros(batch.num_rows, bool)
        digests = batch.column(ROW_DIGEST_COLUMN).to_numpy()
        at = np.minimum(np.searchsorted(self.digests, digests), len(self.digests) - 1)
        unchanged = self.digests[at] == digests
        if unchanged.any():  # the digest is there: it must be this key's (a collision keeps the row)
            positions = pa.array(at)
            for name, keys in self.keys.items():
                same = pc.equal(batch.column(name), keys.take(positions)).fill_null(False)
                unchanged &= same.to_numpy(zero_copy_only=False)
        return unchanged


def _new_versions(rows: pa.RecordBatchReader, unchanged: UnchangedRows, skipped: FiguresSum, run_id: str,
                  taken_at: dt.datetime, schema: pa.Schema, stop: threading.Event) -> Iterator[pa.RecordBatch]:
    """The rows to append, with the run's columns; counts and checksums the skipped ones."""
    run = pa.scalar(run_id, schema.field(RUN_COLUMN).type)
    version = pa.scalar(taken_at, schema.field(VERSION_COLUMN).type)
    for batch in rows:
        if stop.is_set():
            raise StreamStopped("another read stream of this table failed")
        mask = unchanged.mask(batch)
        if mask.any():
            skipped.add(batch.filter(pa.array(mask)))
            batch = batch.filter(pa.array(~mask))
        if batch.num_rows:
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.repeat(run, batch.num_rows), pa.repeat(version, batch.num_rows)], schema=schema)


def archive_table(conn: psycopg.Connection, adbc_uri: str, catalog: Catalog, plan: TablePlan,
                  request: ArchivalRequest, run_id: str) -> dict:
    """Returns what the run records for the table: rows archived and skipped, source figures,
    Iceberg table and snapshot, the legal hold."""
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool, contextlib.ExitStack() as cleanup:
        adbc = pool.submit(connect_adbc, adbc_uri)  # connects while the catalog is asked
        cleanup.callback(lambda: adbc.exception() or adbc.result().close())
        table = ensure_table(catalog, plan.iceberg_table, plan.columns, plan.source.primary_key)
        hold_properties, hold = legal_hold(table.properties, request, run_id)
        set_properties(table, {**table_properties(plan, request, conn.info.dbname), **hold_properties})
        snapshot = find_run_snapshot(table, run_id, plan.label)
        if snapshot is None:
            # The first attempt reads on the connection opened ahead; a recomputation (an ADBC
            # connection's snapshot is set once) on a connection of its own, closed after it.
            ahead = [adbc.result()]
            snapshot = until_committed(plan.iceberg_table, lambda: _append_on_current_snapshot(
                conn, ahead.pop() if ahead else adbc_uri, adbc_uri, pool, table, plan, request, run_id))
            failpoint("rdbms_archival.committed")
    if not snapshot.appended:
        log.info("%s: this run already committed snapshot %d; not appending again", plan.label, snapshot.snapshot_id)
    elapsed = time.monotonic() - started
    skipped = snapshot.skipped_figures["row_count"]
    log.info("%s: %d new row versions in snapshot %d of %s, %d rows skipped as archived unchanged "
             "(%.1f s, %.0f rows/s)", plan.label, snapshot.rows, snapshot.snapshot_id, plan.iceberg_table, skipped,
             elapsed, (snapshot.rows + skipped) / elapsed if elapsed else 0)
    if hold["change"] != "none":
        log.info("%s: legal hold %s %s", plan.iceberg_table, hold["change"], hold)
    return {
        "table": plan.label,
        "index": plan.index,
        "iceberg_table": plan.iceberg_table,
        "snapshot_id": snapshot.snapshot_id,
        "rows_archived": snapshot.rows,
        "rows_skipped": skipped,
        "appended": snapshot.appended,
        "source": snapshot.source_figures,
        "skipped": snapshot.skipped_figures,
        "legal_hold": hold,
        "seconds": round(elapsed, 3),
    }


def _read_streams(conn: psycopg.Connection, plan: TablePlan, request: ArchivalRequest) -> int:
    """How many connections read the table: `read_streams` once its heap reaches `parallel_read_min_mb`."""
    if request.read_streams <= 1:
        return 1
    size = conn.execute("SELECT pg_catalog.pg_relation_size(%s::oid)", [plan.source.oid]).fetchone()[0]
    if size < request.parallel_read_min_mb * MiB:
        log.info("%s: read by one connection: its heap (%.0f MB) is under parallel_read_min_mb (%d MB)",
                 plan.label, size / MiB, request.parallel_read_min_mb)
        return 1
    return request.read_streams


class StreamStopped(Exception):
    """Another stream of the same table failed: this one stops too (its error is the one raised)."""


def _append_on_current_snapshot(conn: psycopg.Connection, adbc, adbc_uri: str, pool: ThreadPoolExecutor, table,
                                plan: TablePlan, request: ArchivalRequest, run_id: str):
    """The rows not archived unchanged as of the table's current snapshot, committed on that snapshot:
    after a lost race with another run, they are computed again from the source (never re-applied)."""
    table.refresh()
    return (find_run_snapshot(table, run_id, plan.label)
            or _append(conn, adbc, adbc_uri, pool, table, plan, request, run_id))


def _append(conn: psycopg.Connection, adbc, adbc_uri: str, pool: ThreadPoolExecutor, table, plan: TablePlan,
            request: ArchivalRequest, run_id: str):
    # without its whole key among the selected columns a row has no identity: nothing is skipped
    key = plan.source.primary_key if set(plan.source.primary_key) <= set(plan.selection.columns) else ()
    read_schema = arrow_schema(table, plan.columns, (ROW_DIGEST_COLUMN,))
    unchanged = UnchangedRows(latest_versions(table, key), [iceberg_name(k) for k in key], read_schema)
    if len(unchanged.digests):
        log.info("%s: %d keys already archived; rows identical to their newest version are skipped",
                 plan.label, len(unchanged.digests))
    write_id = run_write_id(run_id, plan.label)
    left = discard_uncommitted(table, write_id)
    if any(left.values()):
        log.warning("%s: an earlier attempt of this run left %d open upload(s) and %d data file(s) it never "
                    "committed: aborted and deleted", plan.label, left["uploads_aborted"], left["files_deleted"])
    streams = _read_streams(conn, plan, request)
    # Count and checksums run on the psycopg connection while ADBC streams the rows (same
    # snapshot, several server processes); the commit waits for all.
    with SnapshotRead(conn, adbc) as read:
        ranges = read.key_ranges(plan, streams)
        queries = [read.copy_query(plan, r) for r in ranges]  # before the connection is busy in the other thread
        if len(queries) > 1:
            log.info("%s: read by %d connections in one snapshot, by primary-key ranges", plan.label, len(queries))
        figures = pool.submit(read.figures, plan)
        try:
            stream = _Stream(read, table, plan, read_schema, unchanged, run_id, write_id, figures, adbc_uri,
                             len(queries))
            if len(queries) == 1:
                data_files, skipped = stream.write(0, queries[0])
            else:
                data_files, skipped = stream.write_all(queries)
            source_figures = figures.result()  # the checksums' error (a data error is not retried) fails the write
        except BaseException:
            _discard_failed_write(table, write_id, plan.label)
            raise
        finally:
            wait([figures])  # it runs inside the snapshot's transaction: let it end before that closes
        # every writer has closed its files: an upload still open is one none of them will complete
        if aborted := abort_open_uploads(table, write_id):
            log.warning("%s: aborted %d upload(s) the S3 client had opened again after a timeout", plan.label, aborted)
        log.info("%s: %d rows match (count and checksums)", plan.label, source_figures["row_count"])
        return commit_once(table, data_files, run_id, plan.label, source_figures, skipped.figures())


class _Stream:
    """Reads one key range of the table on its own ADBC connection (stream 0: the read's own) and
    writes its rows as its own data files; `write_all` runs one per query, in threads."""

    def __init__(self, read: SnapshotRead, table, plan: TablePlan, read_schema: pa.Schema, unchanged: UnchangedRows,
                 run_id: str, write_id, figures, adbc_uri: str, count: int):
        self.read, self.table, self.plan, self.read_schema, self.unchanged = read, table, plan, read_schema, unchanged
        self.run_id, self.write_id, self.figures, self.adbc_uri, self.count = run_id, write_id, figures, adbc_uri, count
        self.target = arrow_schema(table, plan.columns, (ROW_DIGEST_COLUMN, RUN_COLUMN, VERSION_COLUMN))
        self.stop = threading.Event()

    def write(self, number: int, query: str) -> tuple[list, FiguresSum]:
        skipped = FiguresSum(self.plan.columns)
        label = self.plan.label if self.count == 1 else f"{self.plan.label} (stream {number + 1}/{self.count})"
        with contextlib.ExitStack() as own:
            connection = own.enter_context(contextlib.closing(connect_adbc(self.adbc_uri))) if number else None
            rows = self.read.rows(self.plan, query, self.read_schema, self.figures, connection, label,
                                  own if number else None)
            batches = _new_versions(rows, self.unchanged, skipped, self.run_id, self.read.taken_at, self.target,
                                    self.stop)
            files = write_data_files(self.table, pa.RecordBatchReader.from_batches(self.target, batches),
                                     FILE_BYTES, ROW_GROUP_BYTES // self.count, self.write_id, number)
        return files, skipped

    def write_all(self, queries: list[str]) -> tuple[list, FiguresSum]:
        with ThreadPoolExecutor(len(queries), thread_name_prefix="archive-stream") as streams:
            futures = [streams.submit(self.write, number, query) for number, query in enumerate(queries)]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            finally:  # a stream failed, or this thread was interrupted: the others stop at their next batch
                self.stop.set()
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, StreamStopped)), errors[0])
        data_files, skipped = [], FiguresSum(self.plan.columns)
        for future in futures:
            files, stream_skipped = future.result()
            data_files += files
            skipped.absorb(stream_skipped)
        return data_files, skipped


def _discard_failed_write(table, write_id, label: str) -> None:
    """After a failed write (any stream's): abort its uploads, delete its files, as a retry would."""
    try:
        discard_uncommitted(table, write_id)
    except Exception as e:  # noqa: BLE001 - the retry's discard_uncommitted is the backstop
        log.warning("%s: could not discard the failed write's files (%s); a retry deletes them", label, e)

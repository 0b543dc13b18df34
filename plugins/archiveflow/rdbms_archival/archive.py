"""Archive one table: source snapshot -> one tagged Iceberg snapshot (see iceberg_sink for retries)."""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait

import psycopg
from pyiceberg.catalog import Catalog

from archiveflow.rdbms_archival.iceberg_sink import (
    arrow_schema,
    commit_once,
    ensure_table,
    find_run_snapshot,
    write_data_files,
)
from archiveflow.rdbms_archival.request import ArchivalRequest
from archiveflow.rdbms_archival.source import SnapshotRead, TablePlan, connect_adbc
from archiveflow.units import MiB

log = logging.getLogger(__name__)
FILE_BYTES = 128 * MiB  # Arrow data per Parquet file (~20-40 MB compressed)
ROW_GROUP_BYTES = 8 * 1024 * 1024  # Arrow data per row group: written while the next is read; bounds memory


def table_properties(plan: TablePlan, request: ArchivalRequest, database: str) -> dict[str, str]:
    """Recorded on the Iceberg table; retention and legal hold are those of the latest run."""
    return {
        "archiveflow.source": f"postgresql:///{database}/{plan.label}",
        "archiveflow.retention-months": str(request.retention_policy),
        "archiveflow.legal-hold": str(request.legal_hold).lower(),
    }


def archive_table(conn: psycopg.Connection, adbc_uri: str, catalog: Catalog, plan: TablePlan,
                  request: ArchivalRequest, run_id: str) -> dict:
    """Returns what the run records for the table: rows, source figures, Iceberg table and snapshot."""
    started = time.monotonic()
    properties = table_properties(plan, request, conn.info.dbname)
    with ThreadPoolExecutor(1) as pool, contextlib.ExitStack() as cleanup:
        adbc = pool.submit(connect_adbc, adbc_uri)  # connects while the catalog is asked
        cleanup.callback(lambda: adbc.exception() or adbc.result().close())
        table = ensure_table(catalog, plan.iceberg_table, plan.columns, properties)
        snapshot = find_run_snapshot(table, run_id, plan.label)
        if snapshot is None:
            # Count and checksums run on the psycopg connection while ADBC streams the rows (same
            # snapshot, two server processes); the commit waits for both.
            with SnapshotRead(conn, adbc.result()) as read:
                query = read.copy_query(plan)  # before the connection is busy in the other thread
                figures = pool.submit(read.figures, plan)
                try:
                    data_files = write_data_files(table, read.rows(plan, query, arrow_schema(table, plan.columns),
                                                                   figures), FILE_BYTES, ROW_GROUP_BYTES)
                finally:
                    wait([figures])  # it runs inside the snapshot's transaction: let it end before that closes
                log.info("%s: %d rows match (count and checksums)", plan.label, figures.result()["row_count"])
                snapshot = commit_once(table, data_files, run_id, plan.label, figures.result())
    if not snapshot.appended:
        log.info("%s: this run already committed snapshot %d; not appending again", plan.label, snapshot.snapshot_id)
    elapsed = time.monotonic() - started
    log.info("%s: %d rows in snapshot %d of %s (%.1f s, %.0f rows/s)", plan.label, snapshot.rows,
             snapshot.snapshot_id, plan.iceberg_table, elapsed, snapshot.rows / elapsed if elapsed else 0)
    return {
        "table": plan.label,
        "index": plan.index,
        "iceberg_table": plan.iceberg_table,
        "snapshot_id": snapshot.snapshot_id,
        "rows_archived": snapshot.rows,
        "appended": snapshot.appended,
        "source": snapshot.source_figures,
        "seconds": round(elapsed, 3),
    }

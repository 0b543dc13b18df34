"""Purge: delete from the source exactly the rows this run archived, by primary key.

Only after validation passed, never under legal hold. The keys come from this run's Iceberg
snapshot, `batch_size` at a time; each batch is one transaction that re-checks the run's
condition (a row changed since so that it no longer matches is kept). A crash loses at most the
uncommitted batch, and a rerun simply finds the deleted keys gone (counted as already absent).
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from pyiceberg.table import Table

from archiveflow.errors import SafetyRefusal
from archiveflow.rdbms_archival import sql_files
from archiveflow.rdbms_archival.iceberg_sink import snapshot_batches
from archiveflow.rdbms_archival.naming import iceberg_name
from archiveflow.rdbms_archival.source import PROGRESS_EVERY_S, TablePlan

log = logging.getLogger(__name__)


def skip_reason(legal_hold: bool, purge: bool) -> str | None:
    if not purge:
        return "purge not requested"
    if legal_hold:
        return "legal hold: archived rows are kept in the source"
    return None


def purge_rows(conn: psycopg.Connection, plan: TablePlan, table: Table, validated: dict, snapshot_id: int,
               batch_size: int, dry_run: bool) -> dict:
    if not validated.get("passed"):
        raise SafetyRefusal(f"{plan.label}: validation did not pass; nothing is deleted")
    key = plan.source.primary_key
    if not key:
        raise SafetyRefusal(f"{plan.label}: no primary key; archived rows cannot be deleted safely")
    types = {c.name: c.declared_type for c in plan.source.columns}
    arrays = sql.SQL(", ").join(sql.SQL("CAST({} AS " + types[k] + "[])").format(sql.Placeholder()) for k in key)
    statement = sql_files.load("purge_batch").format(
        action=sql.SQL("SELECT count(*)" if dry_run else "DELETE"), table=plan.source.qualified,
        key=sql.SQL(", ").join(map(sql.Identifier, key)), arrays=arrays, where=plan.selection.where)
    conn.autocommit = True  # so each batch below is its own committed transaction
    started = last_log = time.monotonic()
    matched = seen = 0
    for batch in snapshot_batches(table, snapshot_id, [iceberg_name(k) for k in key], batch_size):
        params = [batch.column(i).to_pylist() for i in range(len(key))] + list(plan.selection.params)
        with conn.transaction():
            cursor = conn.execute(statement, params)
            matched += cursor.fetchone()[0] if dry_run else cursor.rowcount
        seen += batch.num_rows
        if time.monotonic() - last_log >= PROGRESS_EVERY_S:
            log.info("%s: %d of the archived keys processed, %d rows %s", plan.label, seen, matched,
                     "would be deleted" if dry_run else "deleted")
            last_log = time.monotonic()
    result = {"status": "dry_run" if dry_run else "purged", "archived_keys": seen,
              "would_delete" if dry_run else "deleted": matched, "not_in_source": seen - matched,
              "seconds": round(time.monotonic() - started, 3)}
    log.info("%s: purge %s", plan.label, result)
    return result

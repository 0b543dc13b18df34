"""Purge: delete from the source the rows that are identical to their archived version.

Only after validation passed, never while the Iceberg table is under legal hold. The candidates
are the newest archived version of each key (key + row digest, read from the Iceberg table),
`batch_size` at a time; each batch is one transaction that deletes a row only if it still
matches the run's condition and its digest, computed by PostgreSQL inside the DELETE, equals the
archived one (see row_digest.py and purge_batch.sql). A row changed since it was archived (an
update, a delete and re-insert of its key) is kept and counted as `kept_changed`; a later run
archives its new version. Nothing relies on the run's snapshot alone: a cleared or re-run purge,
even days later, compares with the source as it is then. A crash loses at most the uncommitted
batch; a rerun finds the deleted keys gone.

Deletes reach only the archived table: `ONLY` for a plain table (inheritance children are tables
of their own), the whole hierarchy of a partitioned one; foreign keys that would cascade are
refused when the run is planned unless `allow_purge_cascade` (dry_run then counts those rows).
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from pyiceberg.table import Table

from archiveflow.errors import SafetyRefusal
from archiveflow.rdbms_archival import sql_files
from archiveflow.rdbms_archival.iceberg_sink import LEGAL_HOLD, LEGAL_HOLD_SET_BY, latest_versions
from archiveflow.rdbms_archival.row_digest import row_digest_sql
from archiveflow.rdbms_archival.source import PROGRESS_EVERY_S, TablePlan

log = logging.getLogger(__name__)


def skip_reason(table_properties: dict[str, str], purge: bool) -> str | None:
    if not purge:
        return "purge not requested"
    if table_properties.get(LEGAL_HOLD) == "true":
        return f"legal hold on the archive (set by run {table_properties.get(LEGAL_HOLD_SET_BY, 'unknown')}): rows are kept"
    return None


def _statement(plan: TablePlan, dry_run: bool) -> sql.Composed:
    key = plan.source.primary_key
    types = {c.name: c.declared_type for c in plan.source.columns}
    archived_key = [sql.Identifier("archived", f"archiveflow_k{i}") for i in range(len(key))]
    slots = {
        "arrays": sql.SQL(", ").join([*(sql.SQL("CAST({} AS " + types[k] + "[])").format(sql.Placeholder())
                                        for k in key), sql.SQL("CAST({} AS bigint[])").format(sql.Placeholder())]),
        "archived_columns": sql.SQL(", ").join([*(sql.Identifier(f"archiveflow_k{i}") for i in range(len(key))),
                                                sql.Identifier("archiveflow_digest")]),
        "table": plan.source.scope, "key": sql.SQL(", ").join(map(sql.Identifier, key)),
        "archived_key": sql.SQL(", ").join(archived_key), "where": plan.selection.where,
        "digest": row_digest_sql(plan.columns)}
    if not dry_run:
        return sql_files.load("purge_batch").format(**slots)
    referenced = list(dict.fromkeys([*key, *(c for fk in plan.source.referenced_by for c in fk.referenced_columns)]))
    cascades = [sql.SQL(", (SELECT count(*) FROM {t} WHERE ({c}) IN (SELECT {r} FROM present WHERE unchanged))").format(
        t=sql.Identifier(fk.schema, fk.table), c=sql.SQL(", ").join(map(sql.Identifier, fk.columns)),
        r=sql.SQL(", ").join(map(sql.Identifier, fk.referenced_columns))) for fk in plan.source.referenced_by]
    return sql_files.load("purge_batch_dry_run").format(
        **slots, present_columns=sql.SQL(", ").join(map(sql.Identifier, referenced)), cascades=sql.Composed(cascades))


def purge_rows(conn: psycopg.Connection, plan: TablePlan, table: Table, validated: dict, batch_size: int,
               dry_run: bool) -> dict:
    if not validated.get("passed"):
        raise SafetyRefusal(f"{plan.label}: validation did not pass; nothing is deleted")
    key = plan.source.primary_key
    if not key:
        raise SafetyRefusal(f"{plan.label}: no primary key; archived rows cannot be deleted safely")
    statement = _statement(plan, dry_run)
    params_after = list(plan.selection.params) * (1 if dry_run else 2)  # {where} appears once / twice
    latest = latest_versions(table, key)
    conn.autocommit = True  # so each batch below is its own committed transaction
    started = last_log = time.monotonic()
    matched = present = seen = 0
    cascade = [0] * len(plan.source.referenced_by)
    for batch in latest.to_batches(max_chunksize=batch_size):
        params = [batch.column(i).to_pylist() for i in range(len(key) + 1)] + params_after
        try:
            with conn.transaction():
                row = conn.execute(statement, params).fetchone()
        except psycopg.errors.ForeignKeyViolation as e:  # ON DELETE RESTRICT / NO ACTION: the same on a retry
            raise SafetyRefusal(f"{plan.label}: archived rows are still referenced by another table, so PostgreSQL "
                                f"refuses their deletion ({str(e).strip()}); {matched} rows were deleted before this "
                                "batch, the batch was rolled back") from None
        matched, present, seen = matched + row[0], present + row[1], seen + batch.num_rows
        cascade = [total + n for total, n in zip(cascade, row[2:], strict=True)] if dry_run else cascade
        if time.monotonic() - last_log >= PROGRESS_EVERY_S:
            log.info("%s: %d of %d archived keys processed, %d rows %s, %d kept (changed since archived)",
                     plan.label, seen, latest.num_rows, matched, "would be deleted" if dry_run else "deleted",
                     present - matched)
            last_log = time.monotonic()
    result = {"status": "dry_run" if dry_run else "purged", "archived_keys": seen,
              "would_delete" if dry_run else "deleted": matched, "kept_changed": present - matched,
              "not_in_source": seen - present, "seconds": round(time.monotonic() - started, 3)}
    if plan.source.referenced_by and dry_run:
        result["cascade"] = {fk.label: n for fk, n in zip(plan.source.referenced_by, cascade, strict=True)}
    elif plan.source.referenced_by:
        result["cascaded_to"] = [fk.label for fk in plan.source.referenced_by]  # opted in: allow_purge_cascade
    log.info("%s: purge %s", plan.label, result)
    return result

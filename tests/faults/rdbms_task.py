"""rdbms_archival's per-table tasks as a killable process: `python rdbms_task.py DSN SCHEMA RUN_ID archive|purge [STREAMS]`.

`archive` is the archive_table task; `purge` is validate_table then purge_table (the archive of
the run is found committed, as their retries find it). Progress is logged at every batch, so the
test can place its fault mid-stream (with a pause after the first source batch, see slow_source);
the result is printed as JSON at the end.
"""

import json
import logging
import sys
import time

import psycopg

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook
from archiveflow.rdbms_archival import purge, source
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.validation import validate_snapshot

BATCH_SIZE = 2000
SLOW_SOURCE_S = 3.0  # in the child: a pause before each source batch after the first (a big, slow table)


def slow_source(decoded):
    """The source's batches, with a pause after the first: the test's window to place its fault
    while the stream and the first Parquet upload are open, whatever the machine's speed."""

    def paused(*args, **kwargs):
        for number, batch in enumerate(decoded(*args, **kwargs)):
            if number:
                time.sleep(SLOW_SOURCE_S)
            yield batch

    return paused


def run(conn: psycopg.Connection, dsn: str, catalog, schema: str, run_id: str, action: str, streams: int = 1) -> dict:
    """`streams`: read_streams (the table is read by that many connections whatever its size)."""
    request = parse_request({"source_schema": schema, "source_table": [{"table_name": "big"}], "purge": True,
                             "batch_size": BATCH_SIZE, "read_streams": streams, "parallel_read_min_mb": 0})
    plan = source.plan_table(conn, request, 0, resources.glue_database("archive"))
    result = archive_table(conn, dsn, catalog, plan, request, run_id)
    if action == "purge":
        table = catalog.load_table(plan.iceberg_table)
        validated = validate_snapshot(table, result, plan.columns, BATCH_SIZE)
        result = purge.purge_rows(conn, plan, table, validated, BATCH_SIZE, dry_run=False)
    return result


if __name__ == "__main__":
    source.PROGRESS_EVERY_S = purge.PROGRESS_EVERY_S = 0  # a log line per batch: the test places its fault
    source._decoded = slow_source(source._decoded)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    dsn, schema, run_id, action = sys.argv[1:5]
    streams = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    with psycopg.connect(dsn, autocommit=True) as connection:
        outcome = run(connection, dsn, IcebergCatalogHook().get_catalog(), schema, run_id, action, streams)
    print("RESULT " + json.dumps(outcome, default=str), flush=True)

"""rdbms_archival under faults: the archive_table / validate_table / purge_table code in a child
process, killed (SIGKILL by pid), disconnected (pg_terminate_backend of its backends) or left
without its AWS emulator (SIGSTOP/SIGCONT), then retried as Airflow retries the task.

After each: every source row archived exactly once (none lost, none doubled), one snapshot for
the run, the purge deleted only archived rows, and nothing left in the warehouse bucket (no open
multipart upload, no data file that no snapshot references)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
import rdbms_task
from harness import frozen, start_child
from iceberg_leftovers import leftovers
from psycopg import sql

from archiveflow import resources
from archiveflow.rdbms_archival.iceberg_sink import RUN_TAG, STREAM_FILES

pytestmark = pytest.mark.integration
ROWS = 150_000
TERMINATE_ROWS = 400_000  # more than the driver and socket buffers hold: the server is still sending
TASK = str(Path(rdbms_task.__file__))
FREEZE_S = 12  # the Parquet writer's S3 client (AWS C++ SDK) times out a request after 3 s; retries 3 times


def make_source(conn, schema: str, rows: int = ROWS) -> None:
    table = sql.Identifier(schema, "big")
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, payload text)").format(table))
    # ~110 bytes of base64 per row that zstd hardly shrinks: the Parquet file outgrows one S3 part
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, encode(sha512(int8send(g)) || sha256(int8send(g)), 'base64') "
                         "FROM generate_series(1, %s) g").format(table), (rows,))


def source_ids(conn, schema: str) -> set[int]:
    return {r[0] for r in conn.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(schema, "big")))}


def start(local_stack, schema: str, run_id: str, action: str, failpoint: str | None = None, streams: int = 1):
    return start_child([TASK, local_stack.pg_dsn, schema, run_id, action, str(streams)], failpoint=failpoint)


def check_archived_once(catalog, schema: str, run_id: str, rows: int = ROWS) -> tuple[object, str]:
    """Every row 1..rows exactly once in one snapshot of the run; nothing left behind."""
    table = iceberg_table(catalog, schema)
    ids = table.scan(selected_fields=("id",)).to_arrow()["id"]
    assert len(ids) == rows, f"{len(ids)} rows archived for {rows} source rows"
    assert pc.count_distinct(ids).as_py() == rows, "rows archived twice"
    assert (pc.min(ids).as_py(), pc.max(ids).as_py()) == (1, rows)
    assert len([s for s in table.snapshots() if (s.summary or {}).get(RUN_TAG) == run_id]) == 1
    left = leftovers(table)
    assert left == {"open_uploads": [], "unreferenced_files": []}, left
    files = len(table.inspect.all_data_files())
    return table, f"{rows} rows, {files} data file(s), 0 uploads"


def uploading_streams(left: dict) -> set[int]:
    """The read streams with an open upload (their files are numbered from stream * STREAM_FILES)."""
    return {int(re.search(r"/00000-(\d+)-", key).group(1)) // STREAM_FILES for key in left["open_uploads"]}


def iceberg_table(catalog, schema: str):
    (identifier,) = [t for t in catalog.list_tables(resources.glue_database("archive")) if schema in ".".join(t)]
    return catalog.load_table(identifier)


@pytest.mark.parametrize("streams", [1, 2])  # 2: the table read by two connections, each writing its files
def test_kill_during_the_row_stream_and_parquet_upload(pg, local_stack, catalog, fault_table, streams):
    conn, schema = pg
    make_source(conn, schema)
    task = start(local_stack, schema, "run-kill-stream", "archive", streams=streams)
    task.wait_for("rows read")  # the table exists, rows stream; the commit is still ahead
    table = iceberg_table(catalog, schema)
    deadline = time.monotonic() + 60
    while uploading_streams(leftovers(table)) != set(range(streams)):  # every stream uploads a Parquet file
        assert task.process.poll() is None and time.monotonic() < deadline, task.output[-3000:]
        time.sleep(0.05)
    assert task.kill() < 0
    left = leftovers(table)
    assert uploading_streams(left) == set(range(streams))  # what the killed write leaves: the retry must clean it
    retried = rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-kill-stream", "archive", streams)
    assert retried["appended"] and retried["rows_archived"] == ROWS
    _, checked = check_archived_once(catalog, schema, "run-kill-stream")
    fault_table("SIGKILL", f"rdbms_archival: archive_table mid row stream ({streams} read stream(s)), "
                "Parquet upload open",
                f"retry aborted {len(left['open_uploads'])} upload(s), deleted {len(left['unreferenced_files'])} "
                "file(s), appended once", checked)


def test_kill_between_the_iceberg_commit_and_validation(pg, local_stack, catalog, fault_table):
    conn, schema = pg
    make_source(conn, schema)
    task = start(local_stack, schema, "run-kill-commit", "archive", failpoint="rdbms_archival.committed")
    task.wait_for("failpoint rdbms_archival.committed reached")
    assert task.kill() < 0
    retried = rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-kill-commit", "purge")
    assert retried["deleted"] == ROWS and not source_ids(conn, schema)  # validated the committed snapshot, purged
    _, checked = check_archived_once(catalog, schema, "run-kill-commit")
    fault_table("SIGKILL", "rdbms_archival: after the Iceberg commit, before validate_table",
                "retry found the snapshot (no 2nd append), validated, purged", checked)


def test_kill_during_the_purge(pg, local_stack, catalog, fault_table):
    conn, schema = pg
    make_source(conn, schema)
    rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-kill-purge", "archive")
    task = start(local_stack, schema, "run-kill-purge", "purge")
    task.wait_for("archived keys processed")  # a batch of deletes is committed, more are coming
    assert task.kill() < 0
    left = source_ids(conn, schema)
    assert 0 < len(left) < ROWS and left <= set(range(1, ROWS + 1))
    retried = rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-kill-purge", "purge")
    assert retried["deleted"] == len(left) and retried["not_in_source"] == ROWS - len(left)
    assert not source_ids(conn, schema)
    _, checked = check_archived_once(catalog, schema, "run-kill-purge")
    fault_table("SIGKILL", "rdbms_archival: purge_table mid purge",
                f"{ROWS - len(left)} deleted before the kill; retry deleted the other {len(left)}", checked)


def test_terminated_backend_during_the_row_stream(pg, local_stack, catalog, fault_table):
    conn, schema = pg
    make_source(conn, schema, TERMINATE_ROWS)
    task = start(local_stack, schema, "run-terminated", "archive")
    task.wait_for("rows read")
    terminated = conn.execute(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND datname = current_database() AND query LIKE %s", (f"%{schema}%",)).fetchall()
    assert terminated and all(ok for _, ok in terminated)
    assert task.finish() != 0, task.output[-5000:]
    assert re.search(r"terminat|server closed the connection|connection.*(lost|closed)", task.output, re.I), \
        task.output[-3000:]
    retried = rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-terminated", "archive")
    assert retried["appended"] and retried["rows_archived"] == TERMINATE_ROWS
    _, checked = check_archived_once(catalog, schema, "run-terminated", TERMINATE_ROWS)
    fault_table("pg_terminate_backend", f"rdbms_archival: archive_table mid row stream ({len(terminated)} backends)",
                "task failed naming the lost connection; retry appended once", checked)


@pytest.mark.parametrize("streams", [1, 2])
def test_frozen_aws_emulator_during_the_row_stream(pg, local_stack, catalog, fault_table, streams):
    conn, schema = pg
    make_source(conn, schema)
    task = start(local_stack, schema, "run-frozen", "archive", streams=streams)
    task.wait_for("rows read")
    with frozen(local_stack.config.process("moto").pid(), FREEZE_S):
        pass
    code = task.finish()
    # the S3 client resends a request unanswered in time: the emulator opens every copy of a
    # CreateMultipartUpload once it runs again, and the task must abort those its writers never heard of
    reopened = sum(int(n) for n in re.findall(r"aborted (\d+) upload\(s\) the S3 client had opened again",
                                              task.output))
    if code == 0:
        outcome = f"task rode out the freeze (client retries), aborted {reopened} re-sent upload(s)"
    else:
        assert re.search(r"timeout|timed out|curl|connect", task.output, re.I), task.output[-3000:]
        outcome = "task failed naming the S3 timeout; retry appended once"
        retried = rdbms_task.run(conn, local_stack.pg_dsn, catalog, schema, "run-frozen", "archive", streams)
        assert retried["appended"] and retried["rows_archived"] == ROWS
    _, checked = check_archived_once(catalog, schema, "run-frozen")
    fault_table(f"SIGSTOP moto {FREEZE_S} s", f"rdbms_archival: archive_table mid row stream ({streams} read "
                "stream(s))", outcome, checked)

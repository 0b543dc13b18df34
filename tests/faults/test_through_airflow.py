"""Faults injected through the test stack's real Airflow: every DAG that writes data runs under
the scheduler and its LocalExecutor, a fault hits it mid-run, and Airflow's own retry (the DAG's
`retries`) or a restarted component finishes it. Each run ends `success` and its outcome is
checked from the services' own state (Iceberg rows against the source's, objects in S3, items in
DynamoDB), never from what the run says it did.

- a task's process killed (SIGKILL) at a failpoint, found by the pid its running task instance
  records (airflow_faults.Airflow.kill_task_at); the supervisor reports the try failed, the
  scheduler retries it;
- the scheduler stopped mid-run and started again (devstack process management);
- the triggerer stopped while a task is deferred, the awaited thing happening while it is down,
  a new triggerer started: the deferral resumes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import time
import uuid
from collections import Counter

import pytest
from airflow_faults import Airflow
from boto3.dynamodb.conditions import Key
from test_rdbms_archival_faults import check_archived_once, make_source, source_ids
from tests.e2e.test_dynamodb_archive_over_rest import SWITCH, drain_dead_letters, table  # noqa: F401 - a fixture
from tests.e2e.test_github_gold_on_silver_asset import gold_run_for
from tests.e2e.test_github_ingestion_backfill import bronze_counts, table_figures
from tests.integration.deep_archive.test_s3_deep_archive_dag import generate
from tests.integration.github_lakehouse.conftest import events_api  # noqa: F401 - a fixture
from tests.integration.github_lakehouse.lakehouse_tables import scan
from tests.integration.restore.conftest import Aws, RestoreDelay, located, pack
from tests.integration.sensor_data.conftest import sensors  # noqa: F401 - a fixture
from tests.integration.sensor_data.expected import (
    close,
    item_summary,
    s3_lines,
    summary,
    temperatures_by_sensor_hour,
)
from tests.integration.sensor_data.test_mock_data_retry import stream_size

from archiveflow import resources
from archiveflow.deep_archive import index
from archiveflow.dynamodb_archive.archive import DEAD_LETTER_PREFIX
from archiveflow.github_lakehouse.bronze import GhHour, events_api_day, events_api_key, partition_prefix
from archiveflow.restore.extract import RESTORED_TAG, destination_key
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.e2e


@pytest.fixture
def airflow(airflow_stack, local_stack):
    faults = Airflow(airflow_stack, local_stack.config)
    yield faults
    faults.kill_leftovers()


def test_rdbms_archival_task_killed_after_its_iceberg_commit(airflow, pg, catalog, fault_table):
    conn, schema = pg
    rows = 3000
    make_source(conn, schema, rows)
    conf = {"source_schema": schema, "source_table": [{"table_name": "big"}], "purge": True}
    run_id = airflow.trigger("rdbms_archival", conf, arm=("rdbms_archival.committed",))
    killed = airflow.kill_task_at("rdbms_archival", run_id, "archive_table", "rdbms_archival.committed")
    tis = airflow.finished("rdbms_archival", run_id)
    assert tis[("archive_table", 0)]["try_number"] == killed["try_number"] + 1
    assert not source_ids(conn, schema)  # validated against the one snapshot, then purged
    _, checked = check_archived_once(catalog, schema, run_id, rows)
    fault_table("SIGKILL (TI pid)", "rdbms_archival: archive_table after its Iceberg commit",
                "Airflow retry found the snapshot (no 2nd append); validated, purged", checked)


@pytest.mark.emulator_restore_state
def test_s3_restore_wait_survives_the_triggerer_and_extract_a_kill(airflow, local_stack, notifications, fault_table):
    aws = Aws(local_stack)
    project = aws.unique("fault-restore")
    files = {f"{project}/q/file-{i}.csv": f"id,v\n{i},{'x' * 64}\n".encode() * (200 + i) for i in range(6)}
    (unit,) = pack(aws, files, project, storage_class="DEEP_ARCHIVE")["units"]
    delay = RestoreDelay(local_stack.aws_endpoint)
    try:
        delay.hold(aws.s3, aws.archive, [unit["archive_key"]])
        conf = {"project_name": project, "files": [key.rsplit("/", 1)[1] for key in files], "retrieval_tier": "Bulk",
                "poll_interval": 2, "destination_prefix": f"tests/{project}"}
        run_id = airflow.trigger("s3_restore", conf, arm=("restore.file_written",))
        deferred = airflow.wait_for_state("s3_restore", run_id, "wait_for_restores", "deferred")
        airflow.restart("triggerer", between=delay.unset)  # the restore completes while no triggerer runs
    finally:
        delay.unset()
    killed = airflow.kill_task_at("s3_restore", run_id, "extract", "restore.file_written")
    tis = airflow.finished("s3_restore", run_id)
    assert tis[("wait_for_restores", -1)]["try_number"] == deferred["try_number"]  # resumed, not retried
    assert tis[("extract", -1)]["try_number"] == killed["try_number"] + 1
    assert tis[("request_restores", -1)]["try_number"] == 1  # one restore request for the bundle

    prefix = f"tests/{project}/"
    expected = {destination_key(f, prefix): files[f.source_key] for f in located(aws, project, list(files))}
    restore_bucket = resources.bucket("restore")
    assert sorted(aws.keys(restore_bucket, prefix)) == sorted(expected)  # each file once, nothing else
    for key, body in expected.items():
        stored = aws.s3.get_object(Bucket=restore_bucket, Key=key)
        assert stored["Body"].read() == body and RESTORED_TAG in stored["Metadata"], key
    assert not aws.s3.list_multipart_uploads(Bucket=restore_bucket, Prefix=prefix).get("Uploads")
    told = [m for m in (json.loads(text) for text in notifications()) if m.get("run_id") == run_id]
    assert [(m["outcome"], len(m["restored"])) for m in told] == [("succeeded", len(files))]  # one notice
    fault_table("triggerer stopped while deferred", "s3_restore: wait_for_restores (restore done meanwhile)",
                "new triggerer resumed the same try", f"{len(files)} files")
    fault_table("SIGKILL (TI pid)", "s3_restore: extract after its first file",
                "Airflow retry kept the verified copy, wrote the rest; 1 notice",
                f"{len(files)} files byte-identical, 0 uploads, 1 SNS message")


def test_dynamodb_archive_redrive_and_restore_each_killed_once(airflow, local_stack, table, fault_table):  # noqa: F811 - the imported fixture
    """The three DynamoDB DAGs in turn on one table, each task killed once at its point that matters."""
    items = [{"PK": f"user-{i}", "SK": "profile", "n": i} for i in range(4)] + [{"PK": "BROKEN-1", "SK": "x"}]
    for item in items:
        table.put_item(Item=item)
        table.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    drain_dead_letters(local_stack)
    s3, bucket = local_stack.client("s3"), resources.bucket("stream-archive")
    archived = {f"{table.name}/PK_{item['PK']}_SK_{item['SK']}.json" for item in items}
    dead_prefix = f"{DEAD_LETTER_PREFIX}{table.name}/"

    def versions() -> list[str]:
        return sorted(v["Key"] for v in s3.list_object_versions(Bucket=bucket, Prefix=f"{table.name}/").get("Versions", []))

    def dead_letters() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=dead_prefix).get("Contents", [])]

    variables = f"{airflow.api.base_url}/api/v2/variables"
    assert airflow.api.session.post(variables, json={"key": SWITCH, "value": "BROKEN"}, timeout=30).status_code in (200, 201)
    try:
        run_id = airflow.trigger("dynamodb_delete_archive", {"tables": [table.name]}, arm=("dynamodb_archive.written",))
        killed = airflow.kill_task_at("dynamodb_delete_archive", run_id, "archive_table", "dynamodb_archive.written")
        tis = airflow.finished("dynamodb_delete_archive", run_id)
    finally:
        airflow.api.session.delete(f"{variables}/{SWITCH}", timeout=30)
    assert tis[("archive_table", 0)]["try_number"] == killed["try_number"] + 1
    broken = f"{table.name}/PK_BROKEN-1_SK_x.json"
    assert versions() == sorted(archived - {broken})  # one version per deleted item: none doubled by the retry
    assert len(dead_letters()) == 1
    pointers = [m for m in drain_dead_letters(local_stack) if m["objectKey"] == broken]
    fault_table("SIGKILL (TI pid)", "dynamodb_delete_archive: archive_table after the writes, before the checkpoint",
                f"Airflow retry re-checked the batch, wrote nothing twice ({len(pointers)} dead-letter pointer(s))",
                f"{len(archived) - 1} objects x 1 version, 1 dead letter")

    run_id = airflow.trigger("dynamodb_dead_letter_redrive", {"tables": [table.name]},
                             arm=("dynamodb_archive.redriven",))
    killed = airflow.kill_task_at("dynamodb_dead_letter_redrive", run_id, "redrive_records", "dynamodb_archive.redriven")
    tis = airflow.finished("dynamodb_dead_letter_redrive", run_id)
    assert tis[("redrive_records", -1)]["try_number"] == killed["try_number"] + 1
    assert versions() == sorted(archived) and dead_letters() == []  # the dead letter written once, then removed
    fault_table("SIGKILL (TI pid)", "dynamodb_dead_letter_redrive: after the archive write, before removing the dead letter",
                "Airflow retry found it archived (no 2nd version), removed the dead letter",
                f"{len(archived)} objects x 1 version, 0 dead letters")

    run_id = airflow.trigger("dynamodb_restore_items", {"table": table.name}, arm=("dynamodb_archive.item_restored",))
    killed = airflow.kill_task_at("dynamodb_restore_items", run_id, "restore_items", "dynamodb_archive.item_restored")
    tis = airflow.finished("dynamodb_restore_items", run_id)
    assert tis[("restore_items", -1)]["try_number"] == killed["try_number"] + 1
    restored = sorted(table.scan(ConsistentRead=True)["Items"], key=lambda i: i["PK"])
    assert restored == sorted(items, key=lambda i: i["PK"])
    fault_table("SIGKILL (TI pid)", "dynamodb_restore_items: after an item's put",
                "Airflow retry found it present (already_present), put the rest", f"{len(items)} items equal the originals")


def test_sensor_mock_data_killed_and_sensor_pipeline_killed_then_its_scheduler_restarted(
        airflow, local_stack, sensors, fault_table):  # noqa: F811 - the imported fixture
    prefix, per_sensor, malformed = f"fault-{uuid.uuid4().hex[:6]}", 200, 6
    conf = {"stream_name": sensors.stream, "sensor_prefix": prefix, "sensor_count": 3,
            "readings_per_sensor": per_sensor, "interval_seconds": 60, "malformed_count": malformed}
    run_id = airflow.trigger("sensor_mock_data", conf, arm=("sensor_mock_data.chunk_recorded",))
    killed = airflow.kill_task_at("sensor_mock_data", run_id, "put_readings", "sensor_mock_data.chunk_recorded")
    tis = airflow.finished("sensor_mock_data", run_id)
    assert tis[("put_readings", -1)]["try_number"] == killed["try_number"] + 1
    records = 3 * per_sensor + malformed
    assert stream_size(sensors.kinesis, sensors.stream) == records  # the recorded chunk was not put again
    fault_table("SIGKILL (TI pid)", "sensor_mock_data: put_readings after its first chunk's record",
                "Airflow retry put only the other chunks", f"{records} records in the stream")

    run_id = airflow.trigger("sensor_pipeline", {"stream_name": sensors.stream},
                             arm=("sensor_data.stored", "sensor_pipeline.aggregated"))
    killed = airflow.kill_task_at("sensor_pipeline", run_id, "ingest_shard", "sensor_data.stored")
    stopped, orphan = airflow.restart_scheduler_at("sensor_pipeline", run_id, "commit_checkpoints",
                                                   "sensor_pipeline.aggregated")
    tis = airflow.finished("sensor_pipeline", run_id)
    assert tis[("ingest_shard", killed["map_index"])]["try_number"] == killed["try_number"] + 1
    assert tis[("commit_checkpoints", -1)]["try_number"] > stopped["try_number"]

    raw = [line for line in s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)]
    assert len(raw) == 3 * per_sensor and {line["sensor_id"][:len(prefix)] for line in raw} == {prefix}
    assert len(s3_lines(sensors.s3, sensors.bucket, "quarantine/", sensors.stream)) == malformed
    expected = temperatures_by_sensor_hour(raw)
    items = {(s, item["window_start"]): item for s in {line["sensor_id"] for line in raw}
             for item in sensors.aggregates.query(KeyConditionExpression=Key("sensor_id").eq(s))["Items"]}
    assert {key for key in items if key[1] != "overall"} == set(expected)
    for key, values in expected.items():
        assert close(item_summary(items[key]), summary(values)), key  # each reading counted once
    assert all(not checkpoint.pending for checkpoint in (sensors.checkpoints.get(sensors.stream, shard)
                                                         for shard in sensors.shards()))
    fault_table("SIGKILL (TI pid)", "sensor_pipeline: ingest_shard after the raw objects, before the checkpoint",
                "Airflow retry replayed the pending batch onto the same objects", f"{len(raw)} readings once")
    fault_table("scheduler restarted", "sensor_pipeline: commit_checkpoints after the aggregates",
                f"new scheduler retried the lost task ({'orphan ended on its own' if orphan else 'task died with it'})",
                f"{len(expected)} hourly means = independent means")


def test_github_hour_waits_through_a_triggerer_restart_then_silver_and_gold_killed(
        airflow, local_stack, github_sources, fault_table):
    rng = random.SystemRandom()
    hour = GhHour.parse(f"{rng.randint(2015, 2022)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}-9")
    day = hour.ingest_dt
    run_id = airflow.trigger("github_ingestion", {"hour": hour.name},
                             arm=("github_ingestion.bronze_written", "lakehouse_sql.silver_merge"))
    deferred = airflow.wait_for_state("github_ingestion", run_id, "wait_for_hour", "deferred")
    # GH Archive publishes the hour while no triggerer runs; the new one finds it at its first look
    airflow.restart("triggerer", between=lambda: generate_hour(github_sources, hour, events=1500))
    record = read_record(github_sources)[hour.name]
    ingest = airflow.kill_task_at("github_ingestion", run_id, "ingest_hour", "github_ingestion.bronze_written")
    silver = airflow.kill_task_at("github_ingestion", run_id, "update_silver", "lakehouse_sql.silver_merge")
    tis = airflow.finished("github_ingestion", run_id)
    assert tis[("wait_for_hour", -1)]["try_number"] == deferred["try_number"]  # resumed, not retried
    assert tis[("ingest_hour", -1)]["try_number"] == ingest["try_number"] + 1
    assert tis[("update_silver", -1)]["try_number"] == silver["try_number"] + 1

    s3, lakehouse = local_stack.client("s3"), resources.bucket("lakehouse")
    assert bronze_counts(local_stack, day) == {hour.bronze_key: record["lines"] - record["malformed"]}
    assert not s3.list_multipart_uploads(Bucket=lakehouse, Prefix=partition_prefix(day)).get("Uploads")
    events = record["events"]  # its repeats' hour is never ingested: each event once in Silver and Gold
    silver = scan("github_events_silver", [day], "id").column("id").to_pylist()
    assert len(silver) == len(set(silver)) == events
    fault_table("triggerer stopped while deferred", "github_ingestion: wait_for_hour (hour published meanwhile)",
                "new triggerer resumed the same try", "1 Bronze object")
    fault_table("SIGKILL (TI pid)", "github_ingestion: ingest_hour after the Bronze upload",
                "Airflow retry wrote the same object again", f"{record['lines'] - record['malformed']} lines, 0 uploads")
    fault_table("SIGKILL (TI pid)", "github_ingestion: update_silver after the Silver MERGE commit",
                "Airflow retry merged again: no duplicate", f"{events} Silver rows = distinct ids = generated")

    triggered = gold_run_for(airflow.api, day, tis[("update_silver", -1)]["start_date"][:19])
    assert triggered["state"] == "success"
    run_id = airflow.trigger("github_gold", {"days": [day]}, arm=("lakehouse_sql.gold_daily_merge",))
    killed = airflow.kill_task_at("github_gold", run_id, "update_gold", "lakehouse_sql.gold_daily_merge")
    tis = airflow.finished("github_gold", run_id)
    assert tis[("update_gold", killed["map_index"])]["try_number"] == killed["try_number"] + 1
    figures = table_figures(day)
    assert figures == {"silver_rows": events, "silver_ids": events, "gold_daily": events, "gold_hourly": events}
    fault_table("SIGKILL (TI pid)", "github_gold: update_gold after the daily MERGE commit",
                "Airflow retry recomputed the day: no double count", f"Gold daily = hourly = {events} generated events")


def test_s3_deep_archive_task_killed_while_its_batch_job_indexes(airflow, local_stack, fault_table):
    aws = Aws(local_stack)
    project = aws.unique("fault-deep")
    files = generate(f"{project}/", 240, seed=3)
    aws.upload(files)
    conf = {"project_name": project, "bucket_name": aws.source, "prefix": f"{project}/", "file_count": 100,
            "archive_size": 1, "output_prefix": f"tests/{project}", "require_approval": False}
    run_id = airflow.trigger("s3_deep_archive", conf, arm=("deep_archive.uploaded",))
    # the point is in a job child: the task (its parent) is killed, the job finishes as on AWS Batch
    killed = airflow.kill_task_at("s3_deep_archive", run_id, "pack", "deep_archive.uploaded")
    tis = airflow.finished("s3_deep_archive", run_id)
    assert tis[("pack", -1)]["try_number"] == killed["try_number"] + 1

    items = aws.index_items(project)
    assert Counter(item["pk"] for item in items) == Counter(f"{aws.source}/{key}" for key in files)  # each once
    bundles = sorted({item["archive_key"] for item in items})
    members = Counter()
    for bundle in bundles:
        with aws.open_bundle(bundle) as archive:
            assert archive.testzip() is None
            for info in archive.infolist():
                assert archive.read(info) == files[info.filename]
                members[info.filename] += 1
    assert members == Counter(list(files))  # every file in exactly one bundle
    assert aws.keys(aws.archive, f"tests/{project}/") == sorted(
        key for bundle in bundles for key in (bundle, bundle + index.INDEX_SUFFIX))  # nothing else written
    assert not aws.s3.list_multipart_uploads(Bucket=aws.archive, Prefix=f"tests/{project}/").get("Uploads")
    fault_table("SIGKILL (TI pid)", "s3_deep_archive: pack while its Batch job stood between upload and index",
                "job finished on its own; Airflow retry's job found the bundles indexed",
                f"{len(files)} files in {len(bundles)} bundles, each once, 0 uploads")


def test_github_events_api_rate_limit_wait_survives_the_triggerer_and_silver_a_kill(
        airflow, local_stack, events_api, fault_table):  # noqa: F811 - the imported fixture
    api, dag_id = airflow.api, "github_events_api"
    # the fixture's own Events API fake (ids no other feed uses), as a connection of the stack's Airflow
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{events_api.conn_id.upper()}"])
    connections = f"{api.base_url}/api/v2/connections"
    created = api.session.post(connections, json={"connection_id": events_api.conn_id, **conn}, timeout=30)
    assert created.status_code == 201, created.text
    published = events_api.publish(150)
    api.wait_for_dag(dag_id, timeout=300)
    # paused at creation (polling spends a real token's rate limit): unpaused for this run only
    assert api.session.patch(f"{api.base_url}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30).ok
    try:
        run_id = airflow.trigger(dag_id, {"http_conn_id": events_api.conn_id},
                                 arm=("github_events_api.polling", "lakehouse_sql.silver_merge"))
        with airflow.hold_task_at(dag_id, run_id, "poll_events", "github_events_api.polling"):
            reset_at = time.time() + 20
            events_api.rate_limit(0, 20)  # exhausted as the poll starts, until reset_at
        deferred = airflow.wait_for_state(dag_id, run_id, "poll_events", "deferred")
        # the limit resets while no triggerer runs; the new triggerer fires the wait at once
        airflow.restart("triggerer", between=lambda: time.sleep(max(0.0, reset_at + 1 - time.time())))
        killed = airflow.kill_task_at(dag_id, run_id, "update_silver", "lakehouse_sql.silver_merge")
        tis = airflow.finished(dag_id, run_id)
    finally:
        api.session.patch(f"{api.base_url}/api/v2/dags/{dag_id}", json={"is_paused": True}, timeout=30)
        api.session.delete(f"{connections}/{events_api.conn_id}", timeout=30)
    assert tis[("poll_events", -1)]["try_number"] == deferred["try_number"]  # resumed, not retried
    assert tis[("update_silver", -1)]["try_number"] == killed["try_number"] + 1

    run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
    polled_at = dt.datetime.fromisoformat(run["run_after"])
    key = events_api_key(polled_at)
    body = local_stack.client("s3").get_object(Bucket=resources.bucket("lakehouse"), Key=key)["Body"].read()
    bronze = [json.loads(line)["id"] for line in gzip.decompress(body).splitlines()]
    assert sorted(bronze) == sorted(published)  # each event once
    ids = scan("github_events_silver", [events_api_day(polled_at)], "id").column("id").to_pylist()  # created now
    silver = [i for i in ids if i in set(published)]
    assert sorted(silver) == sorted(published)  # each once: the retried MERGE doubled nothing
    fault_table("triggerer stopped while deferred", "github_events_api: poll_events rate-limited (reset meanwhile)",
                "new triggerer resumed the same try", f"{len(published)} events in Bronze once")
    fault_table("SIGKILL (TI pid)", "github_events_api: update_silver after the Silver MERGE commit",
                "Airflow retry merged again: no duplicate", f"{len(published)} Silver rows = published ids")

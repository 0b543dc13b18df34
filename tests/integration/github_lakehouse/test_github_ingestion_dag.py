"""github_ingestion on the local stack: GH Archive hours served by `python -m http.server` (the
stack's gharchive_default) land in Bronze with the generator's counts; re-runs replace; failures
leave nothing; the hour is streamed in bounded memory; the Glue table is registered."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from boto3.dynamodb.conditions import Key

from archiveflow.errors import BadRequest, TransientServiceError
from archiveflow.github_lakehouse.bronze import COLUMNS, GhHour
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "github_ingestion.py"))
    assert bag.import_errors == {}
    return bag.dags["github_ingestion"]


def ingest_operator(hour: GhHour, bucket: str):
    from archiveflow.operators.github_lakehouse import IngestHourOperator

    plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": bucket, "key": hour.bronze_key}
    return IngestHourOperator(task_id=f"ingest_{uuid.uuid4().hex[:6]}", plan=plan)


def context(**params) -> dict:
    return {"params": params, "run_id": f"test__{uuid.uuid4().hex[:8]}"}


def test_hour_lands_with_the_generators_counts_and_a_rerun_replaces_it(lake, airflow_db, dag):
    hour = GhHour.parse(f"{lake.unique_day()}-7")
    generate_hour(lake.dir, hour, events=3000)
    expected = read_record(lake.dir)[hour.name]

    for _ in range(2):  # the second run of the same hour must change nothing
        run = dag.test(run_conf={"hour": hour.name})
        assert run.state == "success"
        assert lake.keys(f"github/events/ingest_dt={hour.ingest_dt}/") == [hour.bronze_key]
        rows = lake.lines(hour.bronze_key)
        assert len(rows) == expected["events"] == expected["lines"] - expected["malformed"]

    assert all(tuple(row) == COLUMNS for row in rows)
    assert {r["id"] for r in rows} >= set(expected["repeated_ids"])  # repeats of the last hour are raw truth
    assert any("€" in r["payload_raw"] or "修复" in r["payload_raw"] for r in rows)  # unicode kept as UTF-8
    assert json.loads(rows[0]["payload_raw"]) is not None

    items = lake.runs.query(KeyConditionExpression=Key("pk").eq(f"github_ingestion#{run.run_id}"))["Items"]
    assert [(i["sk"], int(i["written"]), int(i["malformed_lines"])) for i in items] == [
        (f"hour#{hour.name}", expected["events"], expected["malformed"])]

    table = lake.glue.get_table(DatabaseName="archiveflow_lakehouse", Name="github_events_bronze")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{lake.bucket}/github/events/"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == list(COLUMNS)
    assert table["PartitionKeys"] == [{"Name": "ingest_dt", "Type": "string"}]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["Parameters"]["storage.location.template"] == \
        f"s3://{lake.bucket}/github/events/ingest_dt=${{ingest_dt}}/"


def test_bronze_is_readable_by_duckdb(lake, airflow_db, dag):
    import duckdb

    from archiveflow.hooks.client_settings import AwsClientSettings
    from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook, _load_extensions

    hour = GhHour.parse(f"{lake.unique_day()}-3")
    generate_hour(lake.dir, hour, events=1000)
    assert dag.test(run_conf={"hour": hour.name}).state == "success"
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    _load_extensions(con)
    LakehouseSqlHook()._configure_s3(con)
    assert AwsClientSettings.from_connection("aws_default").s3_endpoint_url
    count = con.execute(f"SELECT count(DISTINCT id), count(*) FROM read_json_auto("
                        f"'s3://{lake.bucket}/github/events/ingest_dt={hour.ingest_dt}/*.json.gz')").fetchone()
    assert count[1] == read_record(lake.dir)[hour.name]["events"]


def test_missing_hour_waits_deferred_then_fails_clearly(lake, airflow_db, dag):
    hour = GhHour.parse(f"{lake.unique_day()}-23")
    run = dag.test(run_conf={"hour": hour.name, "wait_timeout_minutes": 0.05})
    assert run.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["wait_for_hour"] == ("failed", 1)  # a timeout is not retried
    assert states["ingest_hour"][0] in ("upstream_failed", None)
    assert lake.keys(f"github/events/ingest_dt={hour.ingest_dt}/") == []


def test_bad_conf_fails_naming_the_field(lake, airflow_db):
    from archiveflow.operators.github_lakehouse import PlanHourOperator

    with pytest.raises(BadRequest, match="http_conn_id"):
        PlanHourOperator(task_id="plan").run(context(http_conn_id="no_such_connection"))
    with pytest.raises(BadRequest, match="hour"):
        PlanHourOperator(task_id="plan").run(context(hour="2024-02-30-5"))


@pytest.mark.parametrize("fault", ["http_500", "http_403", "truncated_body", "corrupt_gzip", "truncated_gzip"])
def test_source_failures_write_nothing(lake, faulty_source, fault):
    hour = GhHour.parse(f"{lake.unique_day()}-11")
    data = gzip.compress(b"".join(json.dumps({"id": str(i), "type": "PushEvent",
                                              "created_at": "2020-01-01T00:00:00Z"}).encode() + b"\n"
                                  for i in range(50_000)))
    path = "/" + hour.source_path
    faulty_source.faults[path] = {
        "http_500": {"status": 500},
        "http_403": {"status": 403},
        "truncated_body": {"body": data, "cut_to": len(data) // 2},
        "corrupt_gzip": {"body": data[:1000] + bytes(5000) + data[6000:]},
        "truncated_gzip": {"body": data[: len(data) // 2]},   # a complete response of half a file
    }[fault]
    operator = ingest_operator(hour, lake.bucket)
    with pytest.raises(TransientServiceError) as raised:  # retried by Airflow, then a clear failure
        operator.execute(context(http_conn_id=faulty_source.conn_id))
    assert hour.source_path in str(raised.value)
    assert lake.keys(hour.bronze_key) == [] and lake.open_uploads(hour.bronze_key) == []


def test_too_many_malformed_lines_write_nothing(lake):
    hour = GhHour.parse(f"{lake.unique_day()}-12")
    generate_hour(lake.dir, hour, events=100, malformed=12)
    operator = ingest_operator(hour, lake.bucket)
    with pytest.raises(AirflowFailException, match="max_malformed_percent"):  # not retried
        operator.execute(context(http_conn_id="gharchive_default", max_malformed_percent=5))
    assert lake.keys(hour.bronze_key) == [] and lake.open_uploads(hour.bronze_key) == []


MEMORY_PROBE = textwrap.dedent("""
    import json, sys
    from archiveflow.github_lakehouse.bronze import GhHour
    from archiveflow.operators.github_lakehouse import IngestHourOperator
    hour = GhHour.parse(sys.argv[1])
    plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": sys.argv[2], "key": hour.bronze_key}
    operator = IngestHourOperator(task_id="ingest_hour", plan=plan)
    operator.s3().list_objects_v2(Bucket=sys.argv[2], MaxKeys=1)   # clients and imports warm
    def status_kib(field):
        line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
        return int(line.split()[1])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")   # resets the peak (VmHWM) to the current resident size
    baseline = status_kib("VmRSS")
    summary = operator.execute({"params": {"http_conn_id": "gharchive_default"}, "run_id": "memory_probe"})
    peak = status_kib("VmHWM")
    print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "summary": summary}))
""")
MEMORY_BUDGET_MIB = 96


def test_an_hour_bigger_than_the_memory_budget_streams_through(lake):
    hour = GhHour.parse(f"{lake.unique_day()}-20")
    entry = generate_hour(lake.dir, hour, events=3000, large=100, large_bytes=1_500_000)
    assert entry["bytes"] > MEMORY_BUDGET_MIB * 2**20  # even the gzip file is bigger than the budget
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, hour.name, lake.bucket], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    growth_mib = (probe["peak_kib"] - probe["baseline_kib"]) / 1024
    print(f"hour of {entry['bytes'] / 2**20:.0f} MiB gzip, {probe['summary']['decoded_bytes'] / 2**20:.0f} MiB "
          f"decoded in {probe['summary']['seconds']} s; peak RSS growth {growth_mib:.0f} MiB")
    assert growth_mib < MEMORY_BUDGET_MIB
    assert probe["summary"]["written"] == entry["events"]
    head = lake.s3.head_object(Bucket=lake.bucket, Key=hour.bronze_key)
    assert head["ContentLength"] == probe["summary"]["bronze_bytes"]


def test_the_wait_ends_when_the_hour_is_published(lake):
    import asyncio
    import threading
    import time

    from archiveflow.triggers.http_object import HttpObjectPublishedTrigger

    hour = GhHour.parse(f"{lake.unique_day()}-16")
    trigger = HttpObjectPublishedTrigger("gharchive_default", hour.source_path, time.time() + 60, poke_interval=1)
    threading.Timer(2, generate_hour, args=(lake.dir, hour), kwargs={"events": 50}).start()
    started = time.monotonic()
    event = asyncio.run(anext(trigger.run()))
    assert event.payload["status"] == "published" and 2 <= time.monotonic() - started < 30

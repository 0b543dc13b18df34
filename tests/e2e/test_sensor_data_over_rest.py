"""sensor_mock_data → sensor_pipeline on real Airflow, and the /sensors API over real HTTP from the
running API server; checked against an independent computation from the raw data in S3."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import requests
from boto3.dynamodb.conditions import Key
from tests.integration.sensor_data.expected import (
    close,
    item_summary,
    s3_lines,
    summary,
    temperatures_by_sensor_hour,
)

from archiveflow import resources

pytestmark = pytest.mark.e2e

MOCK, PIPELINE = "sensor_mock_data", "sensor_pipeline"


def run_dag(airflow_stack, dag_id: str, conf: dict) -> str:
    run_id = f"e2e__{uuid.uuid4().hex[:8]}"
    response = airflow_stack.trigger(dag_id, conf, run_id=run_id)
    assert response.status_code == 200, response.text
    run = airflow_stack.wait_for_run(dag_id, run_id, timeout=300)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in airflow_stack.task_instances(dag_id, run_id)}
    assert run["state"] == "success", states
    return run_id


def aggregates(local_stack, sensor_list: list[str]) -> dict:
    table = local_stack.resource("dynamodb").Table(resources.dynamodb_table("sensor-aggregates"))
    return {(s, item["window_start"]): item for s in sensor_list
            for item in table.query(KeyConditionExpression=Key("sensor_id").eq(s))["Items"]}


def objects(s3, bucket: str, stream: str) -> dict[str, str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", []) if f"/{stream}." in o["Key"]}


def test_readings_to_aggregates_to_the_average_temperature_api(airflow_stack, local_stack):
    airflow_stack.wait_for_dag(MOCK)
    airflow_stack.wait_for_dag(PIPELINE)
    prefix = f"e2e-{uuid.uuid4().hex[:6]}"
    sensor_list = [f"{prefix}-00{i}" for i in (1, 2, 3)]
    run_dag(airflow_stack, MOCK, {"sensor_prefix": prefix, "sensor_count": 3, "readings_per_sensor": 90,
                                  "interval_seconds": 120, "malformed_count": 6})
    pipeline_run = run_dag(airflow_stack, PIPELINE, {})

    s3, bucket, stream = local_stack.client("s3"), resources.bucket("sensor-data"), resources.kinesis_stream("sensor-readings")
    raw = [line for line in s3_lines(s3, bucket, "raw/", stream) if line["sensor_id"].startswith(prefix)]
    assert len(raw) == 3 * 90
    quarantined = [q for q in s3_lines(s3, bucket, "quarantine/", stream)
                   if q["_kinesis"]["partition_key"].startswith(f"{prefix}-malformed-")]
    assert len(quarantined) == 6 and all(q["reason"] for q in quarantined)

    expected = temperatures_by_sensor_hour(raw)
    items = aggregates(local_stack, sensor_list)
    assert {key for key in items if key[1] != "overall"} == set(expected)
    for key, values in expected.items():
        assert close(item_summary(items[key]), summary(values)), key

    # The API, over HTTP from the running API server, with the Airflow API's own token.
    sensor_id = sensor_list[0]
    hours = sorted(hour for (s, hour) in expected if s == sensor_id)
    start = datetime.fromisoformat(hours[0]) + timedelta(minutes=20)
    end = datetime.fromisoformat(hours[-1]) + timedelta(minutes=40)
    url = f"{airflow_stack.base_url}/sensors/{sensor_id}/average-temperature"
    answer = airflow_stack.session.get(url, params={"from": start.isoformat(), "to": end.isoformat()}, timeout=30)
    assert answer.status_code == 200, answer.text
    inside = [v for (s, hour), vs in expected.items() if s == sensor_id and hours[0] <= hour < hours[-1] for v in vs]
    body = answer.json()
    assert body["count"] == len(inside) and abs(body["average_temperature"] - summary(inside)["mean"]) < 1e-9
    assert (body["sensor_id"], body["from"], body["to"], body["truncated_to_whole_hours"]) == (
        sensor_id, hours[0], hours[-1], True)
    overall = airflow_stack.session.get(url, timeout=30).json()
    all_values = [v for (s, _), vs in expected.items() if s == sensor_id for v in vs]
    assert close({"count": overall["count"], "mean": overall["average_temperature"], "min": overall["min_temperature"],
                  "max": overall["max_temperature"]}, summary(all_values))

    unknown = airflow_stack.session.get(f"{airflow_stack.base_url}/sensors/{prefix}-999/average-temperature", timeout=30)
    assert unknown.status_code == 404
    backwards = airflow_stack.session.get(url, params={"from": end.isoformat(), "to": start.isoformat()}, timeout=30)
    assert backwards.status_code == 422 and "to" in backwards.text
    assert airflow_stack.session.get(url, params={"from": "noon"}, timeout=30).status_code == 422
    assert requests.get(url, timeout=30).status_code == 401  # same authentication as the Airflow API
    assert requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=30).status_code in (401, 403)

    # Re-running the pipeline run (clear it: every task runs again) changes nothing.
    before = (aggregates(local_stack, sensor_list), objects(s3, bucket, stream))
    cleared = airflow_stack.session.post(
        f"{airflow_stack.base_url}/api/v2/dags/{PIPELINE}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": pipeline_run, "only_failed": False, "reset_dag_runs": True}, timeout=30)
    assert cleared.status_code == 200, cleared.text
    run = airflow_stack.wait_for_run(PIPELINE, pipeline_run, timeout=300)
    assert run["state"] == "success"
    assert (aggregates(local_stack, sensor_list), objects(s3, bucket, stream)) == before


def test_a_conf_breaking_the_schema_is_refused_before_any_run(airflow_stack):
    airflow_stack.wait_for_dag(PIPELINE)
    response = airflow_stack.trigger(PIPELINE, {"max_records_per_shard": 0}, run_id=f"e2e_bad__{uuid.uuid4().hex[:8]}")
    assert response.status_code == 400 and "max_records_per_shard" in response.text

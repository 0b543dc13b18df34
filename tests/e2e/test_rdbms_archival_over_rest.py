"""rdbms_archival on real Airflow over the REST API, with the Archive-IO sample payload."""

import io
import uuid

import pytest
from boto3.dynamodb.conditions import Key

from archiveflow import resources
from archiveflow.rdbms_archival import metadata
from devstack.seed_rdbms_demo import DEMO_CONF, seed

pytestmark = pytest.mark.e2e

DAG_ID = "rdbms_archival"
EXPECTED_ROWS = {"postgres_test_schema.products": 19, "postgres_test_schema.leads": 49,
                 "postgres_test_schema.customers": 100}


@pytest.fixture(scope="module")
def seeded(local_stack):
    seed(local_stack.pg_dsn)


def run_items(local_stack, run_id: str) -> dict[str, dict]:
    table = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    items = table.query(KeyConditionExpression=Key("pk").eq(metadata.run_pk(run_id)))["Items"]
    return {item["sk"]: item for item in items}


def test_sample_payload_archives_validates_and_reports(airflow_stack, local_stack, seeded):
    from pypdf import PdfReader

    airflow_stack.wait_for_dag(DAG_ID)
    run_id = f"e2e__{uuid.uuid4().hex[:8]}"
    response = airflow_stack.trigger(DAG_ID, DEMO_CONF, run_id=run_id)
    assert response.status_code == 200, response.text
    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=400)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in airflow_stack.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", states

    items = run_items(local_stack, run_id)
    assert items[metadata.RUN_SK]["status"] == "succeeded"
    archived = {sk.removeprefix("table#"): item for sk, item in items.items() if sk.startswith("table#")}
    # every selected row is archived, or skipped as archived unchanged when an earlier run did it
    assert {label: int(item["rows_archived"]) + int(item["rows_skipped"]) for label, item in archived.items()
            } == EXPECTED_ROWS

    report_key = items[metadata.RUN_SK]["report_key"]
    bucket, key = report_key.removeprefix("s3://").split("/", 1)
    pdf = local_stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for label, rows in EXPECTED_ROWS.items():
        assert label.split(".")[1] in text and str(rows) in text


def test_conf_breaking_the_schema_is_refused_before_any_run(airflow_stack):
    airflow_stack.wait_for_dag(DAG_ID)
    bad = {**DEMO_CONF, "source_table": [{"table_name": "products; DROP TABLE products"}]}
    response = airflow_stack.trigger(DAG_ID, bad, run_id=f"e2e_bad__{uuid.uuid4().hex[:8]}")
    assert response.status_code == 400
    assert "source_table" in response.text


def test_hostile_condition_fails_once_naming_the_field(airflow_stack, local_stack, seeded):
    airflow_stack.wait_for_dag(DAG_ID)
    run_id = f"e2e_hostile__{uuid.uuid4().hex[:8]}"
    conf = {**DEMO_CONF, "source_table": [{"table_name": "leads", "condition": "pg_sleep(5) IS NULL"}]}
    assert airflow_stack.trigger(DAG_ID, conf, run_id=run_id).status_code == 200
    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "failed"
    validate = next(ti for ti in airflow_stack.task_instances(DAG_ID, run_id) if ti["task_id"] == "validate_request")
    assert (validate["state"], validate["try_number"]) == ("failed", 1)  # bad input is not retried
    log = airflow_stack.task_log(DAG_ID, run_id, "validate_request", 1)
    assert "source_table" in log and "leads" in log
    assert run_items(local_stack, run_id)[metadata.RUN_SK]["status"] == "failed"

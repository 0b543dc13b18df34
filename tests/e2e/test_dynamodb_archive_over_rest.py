"""dynamodb_delete_archive and dynamodb_restore_items on real Airflow over the REST API, with the
documented failure switch (an Airflow Variable) set and cleared over REST too."""

import json
import uuid

import pytest

from archiveflow import resources

pytestmark = pytest.mark.e2e

ARCHIVE, RESTORE = "dynamodb_delete_archive", "dynamodb_restore_items"
SWITCH = "dynamodb_archive_fail_keys"


@pytest.fixture
def table(local_stack):
    client = local_stack.client("dynamodb")
    name = f"e2e-ddb-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    yield local_stack.resource("dynamodb").Table(name)
    client.delete_table(TableName=name)


def drain_dead_letters(local_stack) -> list[dict]:
    sqs = local_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.sqs_queue("dead-letter"))["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        messages += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def run(airflow_stack, dag_id: str, conf: dict) -> dict:
    airflow_stack.wait_for_dag(dag_id)
    run_id = f"e2e__{uuid.uuid4().hex[:8]}"
    response = airflow_stack.trigger(dag_id, conf, run_id=run_id)
    assert response.status_code == 200, response.text
    result = airflow_stack.wait_for_run(dag_id, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in airflow_stack.task_instances(dag_id, run_id)}
    assert result["state"] == "success", states
    return result


def test_deleted_items_archived_dead_lettered_and_restored_over_rest(airflow_stack, local_stack, table):
    items = [{"PK": "USER#123", "SK": "PROFILE", "name": "Test User"},
             {"PK": "order/7", "SK": "line_1", "qty": 3},
             {"PK": "BROKEN-1", "SK": "x", "note": "goes to the dead-letter queue"}]
    for item in items:
        table.put_item(Item=item)
        table.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    drain_dead_letters(local_stack)
    base = f"{airflow_stack.base_url}/api/v2/variables"
    assert airflow_stack.session.post(base, json={"key": SWITCH, "value": "BROKEN"}, timeout=30).status_code in (200, 201)
    try:
        run(airflow_stack, ARCHIVE, {"tables": [table.name]})
    finally:
        airflow_stack.session.delete(f"{base}/{SWITCH}", timeout=30)

    listing = local_stack.client("s3").list_object_versions(Bucket=resources.bucket("stream-archive"),
                                                            Prefix=f"{table.name}/")
    assert sorted(v["Key"] for v in listing["Versions"]) == [
        f"{table.name}/PK_USER#123_SK_PROFILE.json", f"{table.name}/PK_order%2F7_SK_line%5F1.json"]
    assert [m["objectKey"] for m in drain_dead_letters(local_stack)] == [f"{table.name}/PK_BROKEN-1_SK_x.json"]

    run(airflow_stack, RESTORE, {"table": table.name})
    restored = sorted(table.scan(ConsistentRead=True)["Items"], key=lambda i: i["PK"])
    assert restored == sorted(items[:2], key=lambda i: i["PK"])


def test_a_restore_conf_breaking_the_schema_is_refused_before_any_run(airflow_stack):
    airflow_stack.wait_for_dag(RESTORE)
    response = airflow_stack.trigger(RESTORE, {"table": "orders", "keys": [{"PK": ["not", "a", "key"]}]})
    assert response.status_code == 400 and "keys" in response.text

"""DynamoDB tables with streams on the emulator, the DAGs, and readers of what a run left behind."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from archiveflow import resources

DAGS = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture
def dags():
    """Parsed for each test: dag.test() merges a run's conf into the DAG object's params, so a
    module-wide DAG would hand one test's `tables` to the next test's run without conf."""
    from airflow.dag_processing.dagbag import DagBag

    bags = [DagBag(dag_folder=str(DAGS / f"{name}.py")) for name in ("dynamodb_delete_archive", "dynamodb_restore_items")]
    assert all(bag.import_errors == {} for bag in bags)
    return {dag_id: dag for bag in bags for dag_id, dag in bag.dags.items()}


@pytest.fixture
def new_table(local_stack):
    """Create tables with a stream (dropped afterwards): new_table({"tenant": "S", "order_no": "N"})."""
    client = local_stack.client("dynamodb")
    created = []

    def create(key: dict[str, str], view_type: str = "NEW_AND_OLD_IMAGES") -> str:
        name = f"it-ddb-{uuid.uuid4().hex[:8]}"
        kinds = ["HASH", "RANGE"]
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": kinds[i]} for i, n in enumerate(key)],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in key.items()],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
        created.append(name)
        return name

    yield create
    for name in created:
        client.delete_table(TableName=name)


@pytest.fixture
def notifications(local_stack):
    """A queue subscribed to the notifications topic: call it to read what runs published."""
    sns, sqs = local_stack.client("sns"), local_stack.client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":" + resources.sns_topic("notifications")))
    queue = sqs.create_queue(QueueName=f"ddb-archive-test-{os.getpid()}-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    yield lambda: [json.loads(m["Body"])["Message"] for m in
                   sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=queue)

"""DynamoDB tables with streams on the emulator, the DAGs, and readers of what a run left behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

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



"""Run items that grow with a run stay far under DynamoDB's 400 KB item limit in every family that
writes one (the emulator enforces the limit): lists far over it go to S3, the item points at them,
and a reader gets them back whole."""

from __future__ import annotations

import pytest

from archiveflow import resources
from archiveflow.run_items import DYNAMODB_ITEM_LIMIT, ITEM_BUDGET, encoded_size, read_list

pytestmark = pytest.mark.integration

REASONS = [f"public.table_{i:05d}: " + "r" * 300 for i in range(3000)]  # ~1 MB: over the limit


@pytest.fixture
def runs(local_stack):
    return local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))


def stored(runs, pk: str, sk: str = "run") -> dict:
    item = runs.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True)["Item"]
    assert encoded_size(item) <= ITEM_BUDGET < DYNAMODB_ITEM_LIMIT
    return item


def test_rdbms_archival_run_item_with_a_megabyte_of_reasons(local_stack, runs):
    from archiveflow.operators.rdbms_archival import _recorder
    from archiveflow.rdbms_archival.metadata import RUN_SK, run_pk

    recorder = _recorder("aws_default")
    recorder.update("manual__big-rdbms", RUN_SK, status="failed", reasons=REASONS)
    recorder.update("manual__big-rdbms", RUN_SK, status="failed", reasons=["one"])  # then small again: inline
    item = stored(runs, run_pk("manual__big-rdbms"))
    assert item["reasons"] == ["one"] and "reasons_s3" not in item
    recorder.update("manual__big-rdbms", RUN_SK, reasons=REASONS)
    stored(runs, run_pk("manual__big-rdbms"))
    (read,) = recorder.items("manual__big-rdbms")
    assert read["reasons"] == REASONS and read["status"] == "failed"


def test_dynamodb_archive_run_item_with_thousands_of_tables_and_gaps(local_stack, runs):
    from archiveflow.operators.dynamodb_archive import RecordStreamArchiveOperator

    tables = [{"table": f"t{i}", "dead_lettered": [{"key": "k" * 100}], "gaps": []} for i in range(3000)]
    RecordStreamArchiveOperator(task_id="record_run").record_run(
        "dynamodb_delete_archive", "manual__big-ddb", status="failed", failed_tables=[t["table"] for t in tables],
        gaps=REASONS, tables=tables)
    item = stored(runs, "dynamodb_delete_archive#manual__big-ddb")
    assert int(item["tables_count"]) == 3000
    assert read_list(local_stack.client("s3"), item, "gaps") == REASONS


def test_github_lakehouse_run_item_with_a_megabyte_of_errors(local_stack, runs):
    from archiveflow.operators.github_lakehouse import GithubLakehouseOperator

    GithubLakehouseOperator(task_id="record").record("github_ingestion#manual__big", "hour#1", errors=REASONS)
    item = stored(runs, "github_ingestion#manual__big", "hour#1")
    assert read_list(local_stack.client("s3"), item, "errors") == REASONS

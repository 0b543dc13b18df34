"""The run's outcome from its DynamoDB items, the PDF an auditor reads, and the recorder's
DynamoDB calls (against a small in-memory stand-in for the boto3 Table)."""

from __future__ import annotations

import io
from decimal import Decimal

from pypdf import PdfReader

from archiveflow.rdbms_archival.metadata import RunRecorder, run_pk, run_status
from archiveflow.rdbms_archival.report import build_pdf, report_key, retention_until

RUN = {"sk": "run", "status": "running", "started_at": "2026-01-31T10:00:00+00:00", "source_database": "crm",
       "request": {"triggered_by": "Gokul", "triggered_by_email": "gokul@example.com", "source_schema": "sales",
                   "glue_connection": "crm_db", "retention_policy": 6, "legal_hold": True, "purge": True}}
PASSED = {"passed": True, "checks": [{"name": "row count", "passed": True, "detail": "source 19, target 19"}]}


def table(name: str, **extra) -> dict:
    return {"sk": f"table#sales.{name}", "table": f"sales.{name}", "index": 0, "condition": "Index < 20",
            "iceberg_table": f"archive.crm__sales__{name}", "snapshot_id": 42, "rows_archived": 19,
            "source": {"row_count": 19}, **extra}


def test_run_status():
    done = table("products", validation=PASSED, purge={"status": "skipped"})
    assert run_status([RUN, done]) == ("succeeded", [])
    failure = {"sk": "failure#archive_table#1", "task": "archive_table", "reason": "S3 unreachable"}
    assert run_status([RUN, done, failure]) == ("failed", ["archive_table: S3 unreachable"])
    assert run_status([RUN, table("leads", validation=PASSED)])[1] == ["sales.leads: purge step did not run"]
    assert run_status([RUN]) == ("failed", ["no table was archived"])


def test_report_text_is_extractable_and_complete():
    items = [RUN, table("products", validation=PASSED, purge={"status": "skipped", "reason": "legal hold"}),
             {"sk": "failure#finish_run#-1", "task": "finish_run", "reason": "SNS down"}]
    pdf = build_pdf("manual__2026-01-31T10:00:00+00:00", items)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", " ")
    for expected in ("Gokul", "gokul@example.com", "Table sales.products", "Index < 20", "Rows archived 19",
                     "archive.crm__sales__products", "PASSED - source 19, target 19", "2026-07-31",
                     "Legal hold yes", "legal hold", "SNS down"):
        assert expected in text, expected


def test_report_key_and_retention():
    assert report_key("manual__2026-01-31T10:00:00+00:00") == "rdbms_archival/manual__2026-01-31T10_00_00_00_00/report.pdf"
    assert retention_until("2026-08-31T00:00:00+00:00", 6) == "2027-02-28"


class FakeTable:
    def __init__(self):
        self.items: dict[tuple, dict] = {}

    def update_item(self, Key, UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues):
        item = self.items.setdefault((Key["pk"], Key["sk"]), dict(Key))
        for assignment in UpdateExpression.removeprefix("SET ").split(", "):
            name, value = assignment.split(" = ")
            item[ExpressionAttributeNames[name]] = ExpressionAttributeValues[value]

    def query(self, KeyConditionExpression, ExpressionAttributeValues, ExclusiveStartKey=None):
        matching = sorted(k for k in self.items if k[0] == ExpressionAttributeValues[":pk"])
        start = matching.index(ExclusiveStartKey) + 1 if ExclusiveStartKey else 0
        page = matching[start:start + 2]
        result = {"Items": [self.items[k] for k in page]}
        if start + 2 < len(matching):
            result["LastEvaluatedKey"] = page[-1]
        return result


def test_recorder_merges_step_attributes_and_pages_through_items():
    fake = FakeTable()
    recorder = RunRecorder(fake)
    recorder.update("r1", "table#s.t", rows_archived=3, source={"seconds": 1.5})
    recorder.update("r1", "table#s.t", validation={"passed": True})
    for i in range(4):
        recorder.update("r1", f"failure#t#{i}", reason="x")
    item = fake.items[(run_pk("r1"), "table#s.t")]
    assert item["rows_archived"] == 3 and item["validation"] == {"passed": True}
    assert item["source"] == {"seconds": Decimal("1.5")}  # DynamoDB takes no floats
    assert len(recorder.items("r1")) == 5

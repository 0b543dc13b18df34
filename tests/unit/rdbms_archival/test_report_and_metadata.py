"""The run's outcome from its DynamoDB items, the PDF an auditor reads, and the recorder's
DynamoDB calls (against a small in-memory stand-in for the boto3 Table)."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from pypdf import PdfReader

from archiveflow.rdbms_archival.metadata import RunRecorder, run_pk, run_status
from archiveflow.rdbms_archival.report import build_pdf, report_key, retention_until

RUN = {"sk": "run", "status": "running", "started_at": "2026-01-31T10:00:00+00:00", "source_database": "crm",
       "request": {"triggered_by": "Gokul", "triggered_by_email": "gokul@example.com", "source_schema": "sales",
                   "glue_connection": "crm_db", "retention_policy": 6, "legal_hold": True, "purge": True}}
PASSED = {"passed": True, "checks": [{"name": "row count", "passed": True, "detail": "source 19, target 19"}],
          "target": {"row_count": 19, "columns": {"Index": {"count": "19", "digest": "190"},
                                                  "Name": {"count": "18", "digest": "-4242"}}},
          "triggers": [{"name": "audit_delete", "definition": "CREATE TRIGGER audit_delete BEFORE DELETE ..."}],
          "cascades": []}
SOURCE = {"row_count": 19, "columns": {"Index": {"count": "19", "digest": "190"},
                                       "Name": {"count": "18", "digest": "-4242"}}}


def table(name: str, **extra) -> dict:
    return {"sk": f"table#sales.{name}", "table": f"sales.{name}", "index": 0, "condition": "Index < 20",
            "iceberg_table": f"archive.crm__sales__{name}", "snapshot_id": 42, "rows_archived": 19,
            "rows_skipped": 0, "source": SOURCE, **extra}


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
                     "Legal hold set by this run", "legal hold", "SNS down"):
        assert expected in text, expected


def test_report_keys_are_unique_and_safe_for_hostile_run_ids():
    assert report_key("manual__2026-01-31T10:00:00+00:00") == "rdbms_archival/manual__2026-01-31T10.3a00.3a00.2b00.3a00/report.pdf"
    hostile = ["a:b", "a_b", "a.b", "a.2eb", "..", ".", "../..", "a/b", "a%2fb", "a b", "ä", "a\x00b", "" + "x" * 250]
    keys = [report_key(run_id) for run_id in hostile]
    assert len(set(keys)) == len(hostile)
    for key in keys:
        prefix, folder, name = key.split("/")
        assert (prefix, name) == ("rdbms_archival", "report.pdf") and folder not in (".", "..")
        assert re.fullmatch(r"[A-Za-z0-9._-]+", folder) and len(key) < 1024


def test_retention():
    assert retention_until("2026-08-31T00:00:00+00:00", 6) == "2027-02-28"


class FakeTable:
    def __init__(self):
        self.items: dict[tuple, dict] = {}

    def update_item(self, Key, UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues):
        item = self.items.setdefault((Key["pk"], Key["sk"]), dict(Key))
        assignments, _, removals = UpdateExpression.removeprefix("SET ").partition(" REMOVE ")
        for name in filter(None, removals.split(", ")):
            item.pop(ExpressionAttributeNames[name], None)
        for assignment in assignments.split(", "):
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
    recorder = RunRecorder(fake, s3=None, lists_bucket="reports")  # small attributes: nothing goes to S3
    recorder.update("r1", "table#s.t", rows_archived=3, source={"seconds": 1.5})
    recorder.update("r1", "table#s.t", validation={"passed": True})
    for i in range(4):
        recorder.update("r1", f"failure#t#{i}", reason="x")
    item = fake.items[(run_pk("r1"), "table#s.t")]
    assert item["rows_archived"] == 3 and item["validation"] == {"passed": True}
    assert item["source"] == {"seconds": Decimal("1.5")}  # DynamoDB takes no floats
    assert len(recorder.items("r1")) == 5


def pages(pdf: bytes) -> list[str]:
    return [p.extract_text().replace("\n", " ") for p in PdfReader(io.BytesIO(pdf)).pages]


def test_figures_have_thousands_separators_and_checksums_do_not():
    big = table("big", index=0, validation=PASSED, rows_archived=Decimal(1_000_000), rows_skipped=25_000)
    whole = " ".join(pages(build_pdf("manual__1", [RUN, big])))
    assert "Rows archived 1,000,000" in whole and "Skipped as already archived 25,000" in whole
    assert "1000000" not in whole and "-4242" in whole


def test_first_page_states_the_totals_and_every_page_has_the_run_footer():
    purged = {"status": "purged", "archived_keys": 19, "deleted": 15, "kept_changed": 3, "not_in_source": 1,
              "cascade": {}, "seconds": 0.5}
    many = [table(f"t{i}", index=i, validation=PASSED, purge=purged, rows_skipped=100) for i in range(12)]
    refused = table("held", index=12, validation=PASSED, purge={"status": "skipped", "reason": "legal hold"})
    run_id = "scheduled__2026-01-31T10:00:00+00:00"
    text = pages(build_pdf(run_id, [{**RUN, "request": {**RUN["request"], "legal_hold": False}}, *many, refused]))
    assert len(text) > 2
    first = text[0]
    for expected in ("Rows archived 247", "Skipped as already archived 1,200", "Purged 180",
                     "Kept because they changed 36", "Refused 19"):
        assert expected in first, (expected, first)
    for number, page in enumerate(text, start=1):
        assert f"{run_id} - page {number} of {len(text)}" in page, page
    whole = " ".join(text)
    assert "Index 19 / 190 19 / 190 match" in whole and "Name 18 / -4242 18 / -4242 match" in whole
    assert "Kept because they changed: 3" in whole and "'deleted'" not in whole
    assert "audit_delete" in whole

"""The PDF report of a run, built from its DynamoDB items, for an auditor.

Stored in the reports bucket under `report_key(run_id)`:
`rdbms_archival/{run_id with characters outside [A-Za-z0-9._-] replaced by _}/report.pdf`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from xml.sax.saxutils import escape

from dateutil.relativedelta import relativedelta
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from archiveflow.rdbms_archival.metadata import RUN_SK


def report_key(run_id: str) -> str:
    return f"rdbms_archival/{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)}/report.pdf"


def retention_until(started_at: str, months: int) -> str:
    return (dt.datetime.fromisoformat(started_at) + relativedelta(months=months)).date().isoformat()


_STYLES = getSampleStyleSheet()
_GRID = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)])


def _p(text) -> Paragraph:
    return Paragraph(escape(str(text)), _STYLES["BodyText"])


def _table(rows: list[tuple]) -> Table:
    table = Table([[_p(k), _p(v)] for k, v in rows], colWidths=[45 * mm, 125 * mm])
    table.setStyle(_GRID)
    return table


def build_pdf(run_id: str, items: list[dict]) -> bytes:
    run = next((i for i in items if i["sk"] == RUN_SK), {})
    tables = sorted((i for i in items if i["sk"].startswith("table#")), key=lambda i: int(i.get("index", 0)))
    failures = [i for i in items if i["sk"].startswith("failure#")]
    request = run.get("request", {})
    started = run.get("started_at", "")
    story = [Paragraph("Archival report", _STYLES["Title"]), _table([
        ("Run", run_id),
        ("Status", run.get("status", "unknown")),
        ("Triggered by", f"{request.get('triggered_by', '')} <{request.get('triggered_by_email', '')}>"),
        ("Started", started),
        ("Source", f"{run.get('source_database', '')} / schema {request.get('source_schema', '')} "
                   f"(connection {request.get('glue_connection', '')})"),
        ("Source session", run.get("source_session", "-")),
        ("Retention", f"{request.get('retention_policy', '')} months, until "
                      f"{retention_until(started, int(request['retention_policy'])) if started and request else ''}"),
        ("Legal hold", "yes" if request.get("legal_hold") else "no"),
        ("Purge", "requested" + (" (dry run)" if request.get("dry_run") else "") if request.get("purge") else "not requested"),
    ])]
    for item in tables:
        source = item.get("source", {})
        rows = [("Condition", item.get("condition") or "(none: whole table)"), ("Query", item.get("query") or "-"),
                ("Iceberg table", item.get("iceberg_table", "-")), ("Snapshot id", item.get("snapshot_id", "-")),
                ("Rows in source", source.get("row_count", "-")), ("Rows archived", item.get("rows_archived", "-"))]
        for check in item.get("validation", {}).get("checks", []):
            rows.append((f"Validation: {check['name']}", f"{'PASSED' if check['passed'] else 'FAILED'} - {check['detail']}"))
        purge = item.get("purge", {})
        rows.append(("Purge", ", ".join(f"{k}: {v}" for k, v in purge.items()) or "-"))
        story += [Spacer(1, 6 * mm), Paragraph(escape(f"Table {item['table']}"), _STYLES["Heading2"]), _table(rows)]
    if failures:
        story += [Spacer(1, 6 * mm), Paragraph("Failures", _STYLES["Heading2"]),
                  _table([(f["task"], f["reason"]) for f in failures])]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=f"Archival report {run_id}", author="archiveflow").build(story)
    return buffer.getvalue()

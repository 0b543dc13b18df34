"""The PDF report of a run, built from its DynamoDB items, for an auditor.

Page 1 states the run and its totals (rows archived, skipped as already archived, purged, kept
because they changed since archived, refused); then one section per table: what was selected,
where it went, the legal hold, validation with each column's source and target checksum, the
triggers and foreign keys a purge sets off, and the purge's figures. Every page's footer names
the run and says "page X of Y". The operator stores the report's SHA-256 with the run's metadata.

Stored in the reports bucket under `report_key(run_id)`: `rdbms_archival/{encoded run id}/report.pdf`,
where the encoding keeps `[A-Za-z0-9_-]` and writes every other byte of the UTF-8 run id as `.xx`
(hex): one key per run id (`a:b` -> `a.3ab`, `a_b` stays), never `.` or `..` as a path segment.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from xml.sax.saxutils import escape

from dateutil.relativedelta import relativedelta
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from archiveflow.rdbms_archival.metadata import RUN_SK

_KEEP = re.compile(rb"[A-Za-z0-9_-]")


def report_key(run_id: str) -> str:
    encoded = "".join(chr(b) if _KEEP.fullmatch(bytes([b])) else f".{b:02x}" for b in run_id.encode())
    return f"rdbms_archival/{encoded}/report.pdf"


def retention_until(started_at: str, months: int) -> str:
    return (dt.datetime.fromisoformat(started_at) + relativedelta(months=months)).date().isoformat()


_STYLES = getSampleStyleSheet()
_GRID = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)])
_HEADED = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                      ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)])
_PURGE_FIELDS = {"status": "Status", "reason": "Reason", "archived_keys": "Archived keys checked",
                 "deleted": "Deleted", "would_delete": "Would be deleted (dry run)",
                 "kept_changed": "Kept because they changed", "not_in_source": "Not in the source or outside the condition",
                 "cascade": "Rows of other tables the deletes would change", "cascaded_to": "Deletes cascaded to",
                 "seconds": "Time (s)"}


def figure(value) -> str:
    """A count as people read it (`1,000,000`); anything else as it is (a checksum is no count)."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and value == int(value):
        return f"{int(value):,}"
    return str(value)


def _p(text, style: str = "BodyText") -> Paragraph:
    return Paragraph(escape(figure(text)).replace("\n", "<br/>"), _STYLES[style])


def _table(rows: list[tuple]) -> Table:
    table = Table([[_p(k), _p(v)] for k, v in rows], colWidths=[45 * mm, 125 * mm])
    table.setStyle(_GRID)
    return table


def _grid(header: list[str], rows: list[list], widths: list[float]) -> Table:
    table = Table([[_p(h) for h in header], *([_p(v) for v in row] for row in rows)],
                  colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(_HEADED)
    return table


def _number(value) -> int:
    return int(value or 0)


def _purged_or_refused(item: dict, purge_requested: bool) -> tuple[int, int, int]:
    """(purged, kept because changed, refused) rows of one table."""
    purge = item.get("purge", {})
    if purge.get("status") == "purged":
        return _number(purge.get("deleted")), _number(purge.get("kept_changed")), 0
    if purge_requested and purge.get("status") != "dry_run":  # held, not validated, refused or failed
        return 0, 0, _number(item.get("rows_archived")) + _number(item.get("rows_skipped"))
    return 0, _number(purge.get("kept_changed")), 0


def totals(items: list[dict], purge_requested: bool) -> list[tuple[str, int]]:
    tables = [i for i in items if i["sk"].startswith("table#")]
    purged, kept, refused = (sum(x) for x in zip(*(_purged_or_refused(t, purge_requested) for t in tables),
                                                 strict=True)) if tables else (0, 0, 0)
    return [("Rows archived", sum(_number(t.get("rows_archived")) for t in tables)),
            ("Skipped as already archived", sum(_number(t.get("rows_skipped")) for t in tables)),
            ("Purged", purged), ("Kept because they changed", kept), ("Refused", refused)]


def _hold(hold: dict | None) -> str:
    if not hold:
        return "-"
    if hold["change"] == "released":
        return f"released by this run (set by run {hold.get('set_by') or 'unknown'})"
    if hold["held"]:
        return f"held ({'set by this run' if hold['change'] == 'set' else 'set by run ' + str(hold.get('set_by'))})"
    return "none"


def _purge_text(purge: dict) -> str:
    lines = []
    for key, value in purge.items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {figure(v)}" for k, v in value.items()) or "none"
        elif isinstance(value, list):
            value = "; ".join(map(str, value))
        lines.append(f"{_PURGE_FIELDS.get(key, key)}: {figure(value)}")
    return "\n".join(lines) or "-"


def _checksums(item: dict) -> Table | None:
    source = item.get("source", {}).get("columns", {})
    target = ((item.get("validation") or {}).get("target") or {}).get("columns", {})
    if not source:
        return None
    rows = []
    for name, figures in source.items():
        archived = target.get(name)
        shown = f"{figure(archived['count'])} / {archived['digest']}" if archived else "-"
        verdict = "match" if archived == figures else ("not checked" if archived is None else "DIFFERS")
        rows.append([name, f"{figure(figures['count'])} / {figures['digest']}", shown, verdict])
    return _grid(["Column", "Source: values / checksum", "Archive: values / checksum", "Result"], rows,
                 [40, 55, 55, 20])


def _table_section(item: dict) -> list:
    validation = item.get("validation") or {}
    rows = [("Condition", item.get("condition") or "(none: whole table)"), ("Query", item.get("query") or "-"),
            ("Iceberg table", item.get("iceberg_table", "-")), ("Snapshot id", item.get("snapshot_id", "-")),
            ("Rows in source", item.get("source", {}).get("row_count", "-")),
            ("Rows archived", item.get("rows_archived", "-")),
            ("Skipped as already archived", item.get("rows_skipped", 0)),
            ("Legal hold", _hold(item.get("legal_hold")))]
    for check in validation.get("checks", []):
        rows.append((f"Validation: {check['name']}", f"{'PASSED' if check['passed'] else 'FAILED'} - {check['detail']}"))
    if "triggers" in validation:
        rows.append(("Triggers", "\n".join(t["definition"] for t in validation["triggers"]) or "none"))
        rows.append(("Foreign keys a purge cascades to", "\n".join(validation["cascades"]) or "none"))
    rows.append(("Purge", _purge_text(item.get("purge", {}))))
    section = [Spacer(1, 6 * mm), _p(f"Table {item['table']}", "Heading2"), _table(rows)]
    checksums = _checksums(item)
    if checksums is not None:
        section += [Spacer(1, 3 * mm), _p("Column checksums", "Heading4"), checksums]
    return section


def _summary(tables: list[dict]) -> Table:
    rows = [[t["table"], t.get("rows_archived", "-"), t.get("rows_skipped", 0),
             "passed" if (t.get("validation") or {}).get("passed") else "not passed",
             t.get("purge", {}).get("status", "did not run")] for t in tables]
    return _grid(["Table", "Archived", "Skipped", "Validation", "Purge"], rows, [60, 25, 25, 30, 30])


def build_pdf(run_id: str, items: list[dict]) -> bytes:
    run = next((i for i in items if i["sk"] == RUN_SK), {})
    tables = sorted((i for i in items if i["sk"].startswith("table#")), key=lambda i: int(i.get("index", 0)))
    failures = [i for i in items if i["sk"].startswith("failure#")]
    request = run.get("request", {})
    started = run.get("started_at", "")
    story = [_p("Archival report", "Title"), _table([
        ("Run", run_id),
        ("Status", run.get("status", "unknown")),
        ("Triggered by", f"{request.get('triggered_by', '')} <{request.get('triggered_by_email', '')}>"),
        ("Started", started),
        ("Source", f"{run.get('source_database', '')} / schema {request.get('source_schema', '')} "
                   f"(connection {request.get('glue_connection', '')})"),
        ("Source session", run.get("source_session", "-")),
        ("Retention", f"{request.get('retention_policy', '')} months, until "
                      f"{retention_until(started, int(request['retention_policy'])) if started and request else ''}"),
        ("Legal hold", "set by this run" if request.get("legal_hold") else
         "released by this run" if request.get("release_legal_hold") else "not requested (a hold set earlier stays)"),
        ("Purge", "requested" + (" (dry run)" if request.get("dry_run") else "")
         + (", cascades allowed" if request.get("allow_purge_cascade") else "") if request.get("purge") else "not requested"),
        ("Report SHA-256", "stored with the run's metadata (DynamoDB runs table, report_sha256)"),
    ]), Spacer(1, 4 * mm), _p("Totals", "Heading2"), _table(totals(items, bool(request.get("purge"))))]
    if tables:
        story += [Spacer(1, 4 * mm), _summary(tables)]
    if failures:
        story += [Spacer(1, 6 * mm), _p("Failures", "Heading2"), _table([(f["task"], f["reason"]) for f in failures])]
    for item in tables:
        story += _table_section(item)
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=f"Archival report {run_id}", author="archiveflow",
                      bottomMargin=22 * mm).build(story, canvasmaker=_footer_canvas(run_id))
    return buffer.getvalue()


def _footer_canvas(run_id: str) -> type[canvas.Canvas]:
    """A canvas that holds its pages until the end, to write "page X of Y" in each footer."""

    class FooterCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._held: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for state in self._held:
                self.__dict__.update(state)
                self._footer(len(self._held))
                super().showPage()
            super().save()

        def _footer(self, pages: int) -> None:
            text = f"Archival report {run_id} - page {self._pageNumber} of {pages}"
            size = 8
            while self.stringWidth(text, "Helvetica", size) > A4[0] - 36 * mm and size > 4:
                size -= 0.5  # a long run id: smaller type, never cut
            self.setFont("Helvetica", size)
            self.setFillColor(colors.grey)
            self.drawString(18 * mm, 10 * mm, text)

    return FooterCanvas

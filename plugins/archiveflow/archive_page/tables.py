"""The `rdbms_archival` runs for the archive page, from their items in the `runs` table
(`archiveflow.rdbms_archival.metadata`): per run its status, report and, per table, the condition
asked, the rows archived and the Iceberg snapshot they went to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archiveflow.rdbms_archival.metadata import RUN_SK, run_pk

RUN_PREFIX = run_pk("")


def archived_tables(items: Iterable[Mapping[str, Any]], limit: int = 100) -> list[dict]:
    """The newest ``limit`` runs (by when they finished, running ones first), each with its tables."""
    runs: dict[str, dict] = {}
    for item in items:
        run_id = item["pk"][len(RUN_PREFIX):]
        run = runs.setdefault(run_id, {"run_id": run_id, "status": None, "finished_at": None, "report": None,
                                       "tables": []})
        if item["sk"] == RUN_SK:
            conditions = {t.get("table_name"): t.get("condition") or t.get("query")
                          for t in (item.get("request") or {}).get("tables", [])}
            run.update(status=item.get("status"), finished_at=item.get("finished_at"), report=item.get("report_key"),
                       conditions=conditions)
        elif item["sk"].startswith("table#"):
            run["tables"].append({"table": item.get("table"), "rows": _int(item.get("rows_archived")),
                                  "iceberg_table": item.get("iceberg_table"),
                                  "snapshot_id": _int(item.get("snapshot_id"))})
    for run in runs.values():
        conditions = run.pop("conditions", {})
        for table in run["tables"]:
            name = table["table"] or ""
            table["condition"] = conditions.get(name) or conditions.get(name.split(".")[-1])
        run["tables"].sort(key=lambda t: t["table"] or "")
    ordered = sorted(runs.values(), key=lambda r: (r["finished_at"] is not None, r["finished_at"] or ""), reverse=True)
    ordered.sort(key=lambda r: r["finished_at"] is not None)
    return ordered[:limit]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)

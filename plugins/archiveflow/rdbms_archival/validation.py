"""Validate one table: schema, row count and per-column checksums, source vs this run's snapshot.

The target side reads only the data files the run's snapshot added (not the table as of it), so
rows archived by other runs never mask a loss or a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import localcontext

from pyiceberg.table import Table
from pyiceberg.types import ListType

from archiveflow.errors import SafetyRefusal
from archiveflow.rdbms_archival.iceberg_sink import snapshot_batches
from archiveflow.rdbms_archival.naming import iceberg_name
from archiveflow.rdbms_archival.pgtypes import EXACT_DIGITS, Column, arrow_digest, canonical


class ValidationFailed(SafetyRefusal):
    """The archive differs from the source: nothing of the run may be purged."""

    def __init__(self, result: dict):
        self.result = result
        failed = [f"{c['name']}: {c['detail']}" for c in result["checks"] if not c["passed"]]
        super().__init__(f"{result['table']}: validation failed: " + "; ".join(failed))


def target_figures(table: Table, snapshot_id: int, columns: Sequence[Column], batch_size: int) -> dict:
    names = [iceberg_name(c.name) for c in columns]
    counts, digests, rows = [0] * len(columns), [0] * len(columns), 0
    with localcontext() as exact:  # decimal sums across batches must not round either
        exact.prec = EXACT_DIGITS
        for batch in snapshot_batches(table, snapshot_id, names, batch_size):
            rows += batch.num_rows
            for i, column in enumerate(columns):
                count, digest = arrow_digest(column.family, batch.column(i))
                counts[i] += count
                digests[i] += digest
    return {"row_count": rows, "columns": {c.name: {"count": str(counts[i]), "digest": canonical(digests[i])}
                                           for i, c in enumerate(columns)}}


def _schema_differences(table: Table, columns: Sequence[Column]) -> list[str]:
    fields = {f.name: f.field_type for f in table.schema().fields}
    differences = []
    for column in columns:
        actual, expected = fields.get(iceberg_name(column.name)), column.family.iceberg(column)
        if actual is None:
            differences.append(f"{column.name}: missing")
        elif not _compatible(actual, expected):
            differences.append(f"{column.name}: {actual} instead of {expected}")
    return differences


def _compatible(actual, expected) -> bool:
    if isinstance(expected, ListType):  # element ids differ from table to table
        return isinstance(actual, ListType) and actual.element_type == expected.element_type
    return actual == expected


def validate_snapshot(table: Table, archived: dict, columns: Sequence[Column], batch_size: int) -> dict:
    """`archived` is archive_table's result. Returns the result; raises ValidationFailed on any mismatch."""
    source = archived["source"]
    schema_diff = _schema_differences(table, columns)
    target = target_figures(table, archived["snapshot_id"], columns, batch_size) if not schema_diff else None
    checks = [{"name": "schema", "passed": not schema_diff,
               "detail": "; ".join(schema_diff) or f"{len(columns)} columns present with compatible types"}]
    if target is not None:
        checks.append({"name": "row count", "passed": source["row_count"] == target["row_count"],
                       "detail": f"source {source['row_count']}, target {target['row_count']}"})
        differing = [c.name for c in columns if source["columns"][c.name] != target["columns"][c.name]]
        checks.append({"name": "checksums", "passed": not differing,
                       "detail": f"columns differ: {differing}" if differing else f"{len(columns)} columns match"})
    result = {"table": archived["table"], "passed": all(c["passed"] for c in checks), "checks": checks,
              "target": target}
    if not result["passed"]:
        raise ValidationFailed(result)
    return result

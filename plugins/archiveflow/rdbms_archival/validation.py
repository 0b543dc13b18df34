"""Validate one table: schema, row count and per-column checksums, source vs this run's snapshot.

The target side reads only the data files the run's snapshot added (not the table as of it), so
rows archived by other runs never mask a loss or a duplicate. Rows the run skipped because their
newest archived version has the same key and row digest are added to the target side with the
figures the archive step computed from them (recorded with the snapshot): every selected row is
either in this snapshot or, identical, in an earlier validated one.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.types import ListType

from archiveflow.errors import SafetyRefusal
from archiveflow.rdbms_archival.iceberg_sink import snapshot_batches
from archiveflow.rdbms_archival.naming import RUN_COLUMN, iceberg_name
from archiveflow.rdbms_archival.pgtypes import EXACT_DIGITS, Column, arrow_digest, canonical


class ValidationFailed(SafetyRefusal):
    """The archive differs from the source: nothing of the run may be purged."""

    def __init__(self, result: dict):
        self.result = result
        failed = [f"{c['name']}: {c['detail']}" for c in result["checks"] if not c["passed"]]
        super().__init__(f"{result['table']}: validation failed: " + "; ".join(failed))


class FiguresSum:
    """Row count and per-column checksums of Arrow batches whose first columns are `columns`."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = columns
        self.rows, self.counts, self.digests = 0, [0] * len(columns), [0] * len(columns)

    def add(self, batch) -> None:
        self.rows += batch.num_rows
        with localcontext() as exact:  # decimal sums across batches must not round either
            exact.prec = EXACT_DIGITS
            for i, column in enumerate(self.columns):
                count, digest = arrow_digest(column.family, batch.column(i))
                self.counts[i] += count
                self.digests[i] += digest

    def absorb(self, other: FiguresSum) -> None:
        """Add another stream's sums of the same columns."""
        self.rows += other.rows
        with localcontext() as exact:
            exact.prec = EXACT_DIGITS
            for i in range(len(self.columns)):
                self.counts[i] += other.counts[i]
                self.digests[i] += other.digests[i]

    def figures(self) -> dict:
        return {"row_count": self.rows, "columns": {c.name: {"count": str(self.counts[i]),
                                                             "digest": canonical(self.digests[i])}
                                                    for i, c in enumerate(self.columns)}}


def target_figures(table: Table, snapshot_id: int, columns: Sequence[Column], batch_size: int) -> dict:
    total = FiguresSum(columns)
    for batch in snapshot_batches(table, snapshot_id, [iceberg_name(c.name) for c in columns], batch_size):
        total.add(batch)
    return total.figures()


def plus(figures: dict, more: dict) -> dict:
    """Figures of two sets of rows together (a column absent from `more` adds nothing)."""
    with localcontext() as exact:
        exact.prec = EXACT_DIGITS
        columns = {}
        for name, own in figures["columns"].items():
            other = more["columns"].get(name, {"count": "0", "digest": "0"})
            columns[name] = {"count": str(int(own["count"]) + int(other["count"])),
                             "digest": canonical(Decimal(own["digest"]) + Decimal(other["digest"]))}
    return {"row_count": figures["row_count"] + more["row_count"], "columns": columns}


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
    source, skipped = archived["source"], archived["skipped"]
    schema_diff = _schema_differences(table, columns)
    target = None
    if not schema_diff:
        target = plus(target_figures(table, archived["snapshot_id"], columns, batch_size), skipped)
    checks = [{"name": "schema", "passed": not schema_diff,
               "detail": "; ".join(schema_diff) or f"{len(columns)} columns present with compatible types"}]
    if target is not None:
        checks.append({"name": "row count", "passed": source["row_count"] == target["row_count"],
                       "detail": f"source {source['row_count']}, target {target['row_count']}"
                                 + (f" ({skipped['row_count']} archived unchanged earlier)" if skipped["row_count"] else "")})
        differing = [c.name for c in columns if source["columns"][c.name] != target["columns"][c.name]]
        checks.append({"name": "checksums", "passed": not differing,
                       "detail": f"columns differ: {differing}" if differing else f"{len(columns)} columns match"})
    result = {"table": archived["table"], "passed": all(c["passed"] for c in checks), "checks": checks,
              "target": target}
    if not result["passed"]:
        raise ValidationFailed(result)
    return result


def withdraw_run(table: Table, run_id: str) -> None:
    """Take the rows of a run whose archive failed validation out of the table's current state
    (its history keeps them, for investigation): no later run may skip a row as archived, or
    purge it, because of a version that was never verified."""
    if RUN_COLUMN in table.schema().column_names:
        table.delete(EqualTo(RUN_COLUMN, run_id), snapshot_properties={"archiveflow.withdrawn_run_id": run_id})

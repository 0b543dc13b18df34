"""The fault suite: each test runs a DAG's task code in a child process (as the Airflow task or
the Batch job runs it), injects one fault at one point, lets the task's retry run, and checks that
no row or file is lost, doubled or left behind. Each test records a row of the table printed at
the end of the session (fault, point, outcome, rows/files checked)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook

HEADER = ("fault", "point", "outcome", "rows/files checked")
_ROWS: list[tuple[str, str, str, str]] = []
_RECORDED: set[str] = set()


@pytest.fixture
def fault_table(request):
    """record(fault, point, outcome, checked): one row of the summary table for this test."""

    def record(fault: str, point: str, outcome: str, checked: str) -> None:
        _ROWS.append((fault, point, outcome, checked))
        _RECORDED.add(request.node.nodeid)

    return record


def pytest_runtest_logreport(report):
    if report.failed and report.nodeid.startswith("tests/faults/") and report.nodeid not in _RECORDED:
        _RECORDED.add(report.nodeid)
        message = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else report.longrepr)
        _ROWS.append((report.nodeid.rsplit("::", 1)[-1], "-", "FAILED: " + message.splitlines()[0][:90], "-"))


def pytest_terminal_summary(terminalreporter):
    if not _ROWS:
        return
    widths = [max(len(row[i]) for row in [HEADER, *_ROWS]) for i in range(len(HEADER))]
    terminalreporter.section("fault suite")
    for row in [HEADER, tuple("-" * w for w in widths), *_ROWS]:
        terminalreporter.write_line(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@pytest.fixture
def pg(local_stack):
    """(autocommit connection, schema of its own), dropped afterwards."""
    schema = f"fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_stack.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield conn, schema
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def catalog(local_stack):
    """The Glue catalog; the Iceberg tables a test creates are dropped afterwards."""
    catalog = IcebergCatalogHook().get_catalog()
    before = set(catalog.list_tables(resources.glue_database("archive")))
    yield catalog
    for identifier in set(catalog.list_tables(resources.glue_database("archive"))) - before:
        catalog.drop_table(identifier)

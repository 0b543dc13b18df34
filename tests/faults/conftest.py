"""The fault suite: each test runs a DAG's task code in a child process (as the Airflow task or
the Batch job runs it), injects one fault at one point, lets the task's retry run, and checks that
no row or file is lost, doubled or left behind. Each test records a row of the table printed at
the end of the session (fault, point, outcome, rows/files checked)."""

from __future__ import annotations

import pytest

HEADER = ("fault", "point", "outcome", "rows/files checked")
ROW_PROPERTY = "fault_row"
_ROWS: list[tuple[str, str, str, str]] = []
_RECORDED: dict[str, int] = {}  # nodeid -> rows taken from its reports


@pytest.fixture
def fault_table(request):
    """record(fault, point, outcome, checked): one row of the summary table for this test. Rows
    travel with the test's reports, so the table is whole under pytest-xdist too (its workers'
    reports reach the controller, which prints it)."""

    def record(fault: str, point: str, outcome: str, checked: str) -> None:
        request.node.user_properties.append((ROW_PROPERTY, (fault, point, outcome, checked)))

    return record


@pytest.fixture(scope="session", autouse=True)
def no_leftovers_anywhere(local_stack):
    """After the last fault test: no new open upload, stray object, unreferenced lakehouse file or
    run left running anywhere in the stack (leftovers_anywhere.py); an error fails the suite."""
    import datetime as dt

    from leftovers_anywhere import look, new_since

    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    before = look(local_stack)
    yield
    left = new_since(before, look(local_stack, since=started))
    _ROWS.append(("whole fault suite", "after the last test", "FAILED: leftovers" if left else "no leftovers",
                  "uploads, strays, unreferenced files, running runs"))
    assert not left, f"the fault suite left behind: {left}"


def pytest_runtest_logreport(report):
    rows = [tuple(value) for name, value in report.user_properties if name == ROW_PROPERTY]
    _ROWS.extend(rows[_RECORDED.get(report.nodeid, 0):])  # each phase's report repeats the earlier rows
    _RECORDED[report.nodeid] = max(len(rows), _RECORDED.get(report.nodeid, 0))
    if report.failed and report.nodeid.startswith("tests/faults/") and not _RECORDED[report.nodeid]:
        _RECORDED[report.nodeid] = 1
        message = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else report.longrepr)
        _ROWS.append((report.nodeid.rsplit("::", 1)[-1], "-", "FAILED: " + message.splitlines()[0][:90], "-"))


def pytest_terminal_summary(terminalreporter):
    if not _ROWS:
        return
    widths = [max(len(row[i]) for row in [HEADER, *_ROWS]) for i in range(len(HEADER))]
    terminalreporter.section("fault suite")
    for row in [HEADER, tuple("-" * w for w in widths), *_ROWS]:
        terminalreporter.write_line(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())



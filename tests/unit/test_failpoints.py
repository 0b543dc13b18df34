"""Failpoints are inert unless ARCHIVEFLOW_FAILPOINT names exactly that point (tests/faults arms them)."""

from archiveflow.failpoints import ENVIRONMENT_VARIABLE, failpoint


def test_a_failpoint_does_nothing_unless_armed_by_its_own_name(monkeypatch, capsys):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    failpoint("rdbms_archival.committed")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "deep_archive.uploaded")
    failpoint("rdbms_archival.committed")  # another point is armed: this one returns
    assert capsys.readouterr().err == ""

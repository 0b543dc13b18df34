"""Failpoints are inert unless armed: ARCHIVEFLOW_FAILPOINT names exactly that point (a child the
fault suite starts), or the file `<ARCHIVEFLOW_FAILPOINT_DIR>/<run id>.<point>` exists (a task
under the test stack's Airflow), claimed once."""

import os
import signal

import pytest

from archiveflow.failpoints import DIRECTORY_VARIABLE, ENVIRONMENT_VARIABLE, RUN_ID_VARIABLE, failpoint


@pytest.fixture
def stops(monkeypatch):
    """The signals failpoint() sends its own process (recorded instead of stopping the test)."""
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    return sent


def test_a_failpoint_does_nothing_unless_armed_by_its_own_name(monkeypatch, capsys):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    failpoint("rdbms_archival.committed")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "deep_archive.uploaded")
    failpoint("rdbms_archival.committed")  # another point is armed: this one returns
    assert capsys.readouterr().err == ""


def test_a_file_armed_point_stops_the_first_process_of_its_run_once(monkeypatch, tmp_path, stops):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path))
    (tmp_path / "run_a.sensor.checkpoint").write_text("")
    monkeypatch.setenv(RUN_ID_VARIABLE, "run_b")
    failpoint("sensor.checkpoint")  # another run's point
    assert stops == []
    monkeypatch.setenv(RUN_ID_VARIABLE, "run_a")
    failpoint("sensor.other")
    assert stops == []
    failpoint("sensor.checkpoint")
    assert stops == [(os.getpid(), signal.SIGSTOP)]
    assert [p.name for p in tmp_path.iterdir()] == [f"run_a.sensor.checkpoint.{os.getpid()}"]  # the pid, for the test
    failpoint("sensor.checkpoint")  # the retried try passes
    assert len(stops) == 1

"""Stopping a managed process stops its whole process group, found by pid file."""

import socket
import sys
import time

import pytest

from devstack.processes import ManagedProcess, _has_live_member, ensure_port_free


def test_managed_process_stops_its_whole_group(tmp_path):
    process = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "logs")
    # A parent that forks a child: stopping the parent's pid must stop the child too.
    script = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    pid = process.start([sys.executable, "-c", script], env={}, cwd=tmp_path)
    time.sleep(0.5)
    assert process.pid() == pid
    assert process.stop(timeout=5) is True
    assert process.pid() is None
    assert not _has_live_member(pid)
    assert process.stop() is False


def test_a_port_held_by_another_program_is_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} for the AWS emulator is taken by another program"):
            ensure_port_free(port, "the AWS emulator")
    ensure_port_free(port, "the AWS emulator")  # closed again: free

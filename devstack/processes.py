"""Background processes that the stack starts, tracked by pid file and stopped by pid.

Each process runs in its own session (process group), so stopping it also stops the
children it forked (Airflow's task runners, moto's threads) and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


class ManagedProcess:
    def __init__(self, name: str, run_dir: Path, log_dir: Path):
        self.name = name
        self.pid_file = run_dir / f"{name}.pid"
        self.log_file = log_dir / f"{name}.log"

    def pid(self) -> int | None:
        """The pid from the pid file when that process is still alive."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        # A recycled pid belongs to someone else: only trust it when it leads our process group.
        try:
            if os.getpgid(pid) != pid:
                return None
        except ProcessLookupError:
            return None
        return pid

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        if (pid := self.pid()) is not None:
            return pid
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 20) -> bool:
        """SIGTERM the process group, SIGKILL what is left after `timeout`. True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _group_alive(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies of our own children still count as alive to killpg: reap them.
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def ensure_port_free(port: int, what: str) -> None:
    """Refuse to start next to a stranger: a server already on `port` that is not ours would
    answer our health checks and then vanish or hold other data."""
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} for {what} is taken by another program (not started by this stack); "
                               f"stop it, or use another stack (tests: ARCHIVEFLOW_TEST_STACK=N)")


def wait_for_http(url: str, timeout: float, what: str, process: ManagedProcess | None = None) -> None:
    """Poll `url` until it answers 2xx; fail with the log's tail when the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process is not None and process.pid() is None:
            raise RuntimeError(f"{what} exited while starting; see {process.log_file}:\n{tail(process.log_file)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f}s; see its log")
        time.sleep(0.5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"

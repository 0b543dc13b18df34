"""Running task code in a child process and faulting it: kill by pid, freeze a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from archiveflow.failpoints import ENVIRONMENT_VARIABLE

REPO = Path(__file__).resolve().parents[2]
# run argv[1:] (a script, or -m module) with its threads' stacks dumped on SIGUSR1
DUMP_ON_SIGUSR1 = """
import faulthandler, runpy, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True)
sys.argv = sys.argv[1:]
if sys.argv[0] == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
elif sys.argv[0] == "-c":
    sys.argv = sys.argv[1:]
    exec(compile(sys.argv[0], "<task>", "exec"), {"__name__": "__main__"})
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass
class Child:
    """A child process whose merged stdout/stderr is collected line by line in the background."""

    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def __post_init__(self):
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None or any(text in line for line in self.lines), \
                f"the child ended ({self.process.returncode}) before {text!r}:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output[-3000:]}"
            time.sleep(0.02)

    def kill(self) -> int:
        """SIGKILL by pid (the task process, never a name), as Airflow or Batch kills a task."""
        os.kill(self.process.pid, signal.SIGKILL)
        return self.finish()

    def finish(self, timeout: float = 120) -> int:
        """Wait for the exit; a child still running after `timeout` dumps its threads and is killed."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGUSR1)  # faulthandler: every thread's stack
            time.sleep(2)
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            time.sleep(0.1)
            raise AssertionError(f"the task hung (> {timeout} s); its threads:\n{self.output[-6000:]}") from None
        time.sleep(0.1)  # the reader thread drains the pipe
        return self.process.returncode

    def result(self) -> dict:
        """The JSON a task script printed after `RESULT ` (once it ended)."""
        (line,) = [line for line in self.lines if line.startswith("RESULT ")]
        return json.loads(line.removeprefix("RESULT "))


def start_child(argv: list[str], *, failpoint: str | None = None, env: dict[str, str] | None = None) -> Child:
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1",
                   "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    environment.pop(ENVIRONMENT_VARIABLE, None)
    if failpoint:
        environment[ENVIRONMENT_VARIABLE] = failpoint
    # faulthandler: a hung child dumps its threads on SIGUSR1 (see finish)
    process = subprocess.Popen([sys.executable, "-c", DUMP_ON_SIGUSR1, *argv], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return Child(process)


def aws_env(local_stack) -> dict[str, str]:
    """What a task process's boto3 clients need to reach the stack's emulator."""
    args = local_stack.config.boto_args()
    return {"AWS_ENDPOINT_URL": args["endpoint_url"], "AWS_DEFAULT_REGION": args["region_name"],
            "AWS_ACCESS_KEY_ID": args["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": args["aws_secret_access_key"]}


@contextmanager
def frozen(pid: int, seconds: float):
    """SIGSTOP the process for `seconds`, then SIGCONT (a restart would lose the emulator's state)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)

"""Faults injected into DAG runs under the test stack's real Airflow (scheduler, LocalExecutor,
triggerer): a task's process killed by the pid its task instance records, a component stopped and
started again by devstack's process management. Retries are Airflow's own (the DAGs' `retries`;
the test stack's retry_delay is 2 s, see devstack.stack.test_airflow_settings)."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from archiveflow.failpoints import DIRECTORY_VARIABLE
from devstack import stack
from devstack.airflow_api import AirflowApi


@dataclass
class Airflow:
    api: AirflowApi
    config: stack.StackConfig
    stopped: set[int] = field(default_factory=set)  # pids stopped at a failpoint (cleanup)

    @property
    def failpoints(self) -> Path:
        return Path(stack.test_airflow_settings(self.config)[DIRECTORY_VARIABLE])

    def trigger(self, dag_id: str, conf: dict, *, arm: tuple[str, ...] = ()) -> str:
        """A new run of `dag_id` with `conf`; `arm` names failpoints armed for this run only."""
        self.api.wait_for_dag(dag_id, timeout=300)  # a fresh stack parses every DAG first
        run_id = f"fault__{uuid.uuid4().hex[:10]}"
        self.failpoints.mkdir(parents=True, exist_ok=True)
        for point in arm:
            (self.failpoints / f"{run_id}.{point}").write_text("")
        response = self.api.trigger(dag_id, conf, run_id=run_id)
        assert response.status_code == 200, response.text
        return run_id

    def task_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        return [ti for ti in self.api.task_instances(dag_id, run_id) if ti["task_id"] == task_id]

    def wait_for_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            tis = self.task_instances(dag_id, run_id, task_id)
            if found := [ti for ti in tis if ti["state"] == state]:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}/{run_id}: {task_id} never {state}: {[ti['state'] for ti in tis]}")
            time.sleep(1)

    def stopped_at(self, run_id: str, point: str, timeout: float = 300) -> int:
        """The pid of the task process that reached the run's armed failpoint (and stopped there)."""
        deadline = time.monotonic() + timeout
        while not (claimed := list(self.failpoints.glob(f"{run_id}.{point}.*"))):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{run_id}: no task reached the failpoint {point} within {timeout:.0f} s")
            time.sleep(0.5)
        (path,) = claimed
        path.unlink()
        pid = int(path.name.rsplit(".", 1)[1])
        self.stopped.add(pid)
        return pid

    def kill_leftovers(self) -> list[int]:
        """SIGKILL what a failed test left stopped at a failpoint (it runs its own process group:
        stopping the stack would not end it)."""
        left = [pid for pid in self.stopped if (_stat(pid) or ["Z"])[0] == "T"]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        self.stopped.clear()
        return left

    def hold_task_at(self, dag_id: str, run_id: str, task_id: str, point: str):
        """A context: `task_id` stands at `point` (its process stopped) until the block ends."""
        return _held(self._task_at(dag_id, run_id, task_id, point)[1])

    def _task_at(self, dag_id: str, run_id: str, task_id: str, point: str) -> tuple[dict, int]:
        """The running TI whose process (or a child of it) stands at `point`, and that process's pid."""
        pid = self.stopped_at(run_id, point)
        lineage = _lineage(pid)
        (ti,) = [ti for ti in self.task_instances(dag_id, run_id, task_id) if ti["pid"] in lineage]
        assert ti["state"] == "running" and ti["hostname"] in (socket.getfqdn(), socket.gethostname()), ti
        return ti, pid

    def kill_task_at(self, dag_id: str, run_id: str, task_id: str, point: str) -> dict:
        """SIGKILL the process running `task_id` once it stands at `point`: the pid Airflow recorded
        on the running task instance (on this host), checked against the one the failpoint reports."""
        ti, pid = self._task_at(dag_id, run_id, task_id, point)
        os.kill(ti["pid"], signal.SIGKILL)
        if ti["pid"] != pid:  # the point is in a job the task runs (AWS Batch, locally): it outlives the task
            _let_go(pid)
        return ti

    def restart_scheduler_at(self, dag_id: str, run_id: str, task_id: str, point: str) -> tuple[dict, bool]:
        """Stop the scheduler (its process group: the LocalExecutor and the task supervisors it forked)
        while `task_id` stands at `point`, start a new one, and let the task's process go on if it
        outlived its supervisor (it runs its own process group). The new scheduler finds the task
        instance without heartbeat and retries it. Returns the TI as it was, and whether the orphan
        lived on."""
        ti, pid = self._task_at(dag_id, run_id, task_id, point)
        self.restart("scheduler")
        orphan = _alive(pid)
        if orphan:  # it ends when it next talks to its dead supervisor (or finishes its code)
            _let_go(pid)
        return ti, orphan

    def restart(self, component: str, *, between=None) -> None:
        """Stop an Airflow component (its process group), call `between`, start it again."""
        assert self.config.process(component).stop(), f"{component} was not running"
        if between:
            between()
        stack.start_airflow(self.config)  # starts what is not running: this component

    def finished(self, dag_id: str, run_id: str, timeout: float = 420) -> dict[tuple[str, int], dict]:
        """The run's task instances by (task_id, map_index), once the run ended `success`."""
        run = self.api.wait_for_run(dag_id, run_id, timeout=timeout)
        tis = {(ti["task_id"], ti["map_index"]): ti for ti in self.api.task_instances(dag_id, run_id)}
        assert run["state"] == "success", {key: (ti["state"], ti["try_number"]) for key, ti in tis.items()}
        unclaimed = [path.name for path in self.failpoints.glob(f"{run_id}.*")]
        for name in unclaimed:
            (self.failpoints / name).unlink()
        assert not unclaimed, f"armed failpoints the run never reached: {unclaimed}"
        return tis


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command: state, ppid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _lineage(pid: int) -> list[int]:
    """`pid` and its ancestors."""
    chain = [pid]
    while (stat := _stat(chain[-1])) and int(stat[1]) > 1:
        chain.append(int(stat[1]))
    return chain


def _let_go(pid: int, timeout: float = 120) -> None:
    """SIGCONT a process stopped at a failpoint whose task is gone, and wait until it has ended."""
    os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid}, let go after its task was lost, still runs"
        time.sleep(1)


@contextmanager
def _held(pid: int):
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)

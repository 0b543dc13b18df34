"""Named failpoints for the fault suite (tests/faults/): off unless armed.

Only where a fault cannot be placed from outside (a moment too short to hit: between an Iceberg
commit and the task's return, between a bundle's upload and its index, between two source
deletes). An armed point says so on stderr and stops its own process (SIGSTOP): the test then
kills it from outside, by its pid, exactly there, as Airflow or AWS Batch would kill a task (or
lets it go on with SIGCONT).

Two ways to arm a point:
- a child process the test starts: ARCHIVEFLOW_FAILPOINT names the point;
- a task under a running Airflow (the test stack sets ARCHIVEFLOW_FAILPOINT_DIR for all its
  components): the file `<dir>/<dag run id>.<point>` exists. The first process of that run to
  reach the point claims it, renaming the file to `….<pid>` (the test reads the pid there), so
  the retried try passes it.
"""

from __future__ import annotations

import os
import signal
import sys

ENVIRONMENT_VARIABLE = "ARCHIVEFLOW_FAILPOINT"
DIRECTORY_VARIABLE = "ARCHIVEFLOW_FAILPOINT_DIR"
RUN_ID_VARIABLE = "AIRFLOW_CTX_DAG_RUN_ID"  # set by Airflow's task runner while a task executes
# Seconds between a failed try and its retry, for every DAG (archiveflow.dag_builder): set only by
# the test stack, so a fault injected through Airflow sees its own retry without the DAG's wait.
RETRY_DELAY_VARIABLE = "ARCHIVEFLOW_RETRY_DELAY_SECONDS"


def failpoint(name: str) -> None:
    if os.environ.get(ENVIRONMENT_VARIABLE) == name or _claimed(name):
        print(f"failpoint {name} reached (pid {os.getpid()})", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)


def _claimed(name: str) -> bool:
    folder, run_id = os.environ.get(DIRECTORY_VARIABLE), os.environ.get(RUN_ID_VARIABLE)
    if not (folder and run_id):
        return False
    armed = os.path.join(folder, f"{run_id}.{name}")
    try:
        os.rename(armed, f"{armed}.{os.getpid()}")  # atomic: one process of the run claims it
    except FileNotFoundError:
        return False
    return True

"""Named failpoints for the fault suite (tests/faults/): off unless ARCHIVEFLOW_FAILPOINT names one.

Only where a fault cannot be placed from outside (a moment too short to hit: between an Iceberg
commit and the task's return, between a bundle's upload and its index, between two source
deletes). An armed point says so on stderr and stops its own process (SIGSTOP): the test then
kills it from outside, by its pid, exactly there, as Airflow or AWS Batch would kill a task.
"""

from __future__ import annotations

import os
import signal
import sys

ENVIRONMENT_VARIABLE = "ARCHIVEFLOW_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENVIRONMENT_VARIABLE) == name:
        print(f"failpoint {name} reached (pid {os.getpid()})", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)

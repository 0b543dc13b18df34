"""Operators of the `archiveflow_stack_check` DAG: one per service check, and the summary."""

from __future__ import annotations

from typing import Any

from archiveflow.errors import RunIncomplete
from archiveflow.operators.base import ArchiveflowOperator
from archiveflow.stack_check.checks import CHECKS
from archiveflow.stack_check.request import parse_request


def check_task_id(service: str) -> str:
    return f"check_{service}"


class ServiceCheckOperator(ArchiveflowOperator):
    """One small real round trip through `service` (a key of CHECKS) with the conf's connections."""

    def __init__(self, *, service: str, **kwargs: Any) -> None:
        super().__init__(task_id=check_task_id(service), **kwargs)
        self.service = service

    def run(self, context) -> str:
        return CHECKS[self.service](context["run_id"], parse_request(context["params"]))


class StackCheckSummaryOperator(ArchiveflowOperator):
    """Runs whatever happened upstream: lists every check's outcome, fails naming the failed ones."""

    def run(self, context) -> dict[str, str]:
        results = {name: context["ti"].xcom_pull(task_ids=check_task_id(name)) for name in CHECKS}
        for name, result in results.items():
            self.log.info("%-12s %s", name, "FAILED (see its log)" if result is None else f"ok: {result}")
        if failed := [name for name, result in results.items() if result is None]:
            # The outcome of this run, already known: a retry could not change it.
            raise RunIncomplete(f"stack check failed for: {', '.join(failed)}")
        return results

"""The base of every archiveflow operator, and the one adapter from archiveflow's error vocabulary
(`archiveflow.errors`) to Airflow: bad input, unarchivable data and safety refusals fail the task
at once, without retry (a retry would meet the same input); everything else is left to the task's
retries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from archiveflow.errors import NON_RETRYABLE
from archiveflow.request_fields import Field, unknown_fields


@contextlib.contextmanager
def fail_without_retry() -> Iterator[None]:
    """Turn a non-retryable archiveflow error into AirflowFailException, keeping its message."""
    try:
        yield
    except NON_RETRYABLE as err:
        raise AirflowFailException(str(err)) from err


class ArchiveflowOperator(BaseOperator):
    """Subclasses implement `run(context)`; `execute` (and a resumption after a deferral) applies
    `fail_without_retry` around it."""

    ui_color = "#e8f0fe"

    def execute(self, context) -> Any:
        with fail_without_retry():
            return self.run(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context) -> Any:
        """After a deferral the task runner calls this instead of `execute`: the same adapter applies."""
        with fail_without_retry():
            return super().resume_execution(next_method, next_kwargs, context)

    def run(self, context) -> Any:
        raise NotImplementedError

    def warn_unknown_fields(self, fields: Mapping[str, Field], conf: Mapping[str, Any]) -> None:
        """Airflow accepts conf keys no Param declares; say so, since one is usually a misspelt field."""
        if unknown := unknown_fields(fields, conf):
            self.log.warning("conf fields this DAG does not know, ignored: %s", unknown)


def listed_buckets(variable: str) -> list[str]:
    """The bucket names an allow-list Variable holds (a JSON list; none when unset), read at run time."""
    from airflow.sdk import Variable

    from archiveflow.errors import BadRequest

    listed = Variable.get(variable, default=[], deserialize_json=True)
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise BadRequest(f"Variable {variable}", "must hold a JSON list of bucket names")
    return listed

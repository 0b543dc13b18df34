"""The one error vocabulary: every non-retryable class fails the task without retry, the rest is
left to the task's retries, and the message (naming the field) reaches the task log unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from archiveflow.errors import (
    NON_RETRYABLE,
    ArchiveflowError,
    BadRequest,
    RunIncomplete,
    SafetyRefusal,
    TransientServiceError,
    UnarchivableData,
)
from archiveflow.operators.base import ArchiveflowOperator, fail_without_retry


class Raising(ArchiveflowOperator):
    def __init__(self, *, error: Exception, **kwargs):
        super().__init__(task_id="raising", **kwargs)
        self.error = error

    def run(self, context):
        raise self.error


NON_RETRYABLE_ERRORS = [BadRequest("source_table[0].condition", "unknown column x", "public.t"),
                        UnarchivableData("public.t: column 'n' holds NaN"), SafetyRefusal("validation did not pass"),
                        RunIncomplete("2 files not restored")]


def test_the_vocabulary_is_one_hierarchy():
    assert set(NON_RETRYABLE) == {BadRequest, UnarchivableData, SafetyRefusal, RunIncomplete}
    assert all(issubclass(cls, ArchiveflowError) for cls in (*NON_RETRYABLE, TransientServiceError))


@pytest.mark.parametrize("error", NON_RETRYABLE_ERRORS, ids=lambda e: type(e).__name__)
def test_non_retryable_errors_fail_the_task_without_retry(error):
    with pytest.raises(AirflowFailException, match=re.escape(str(error))) as failure:
        Raising(error=error).execute({})
    assert failure.value.__cause__ is error


def test_bad_request_names_field_and_subject():
    assert str(NON_RETRYABLE_ERRORS[0]) == "source_table[0].condition (public.t): unknown column x"


@pytest.mark.parametrize("error", [TransientServiceError("throttled"), ConnectionError("reset")],
                         ids=lambda e: type(e).__name__)
def test_other_errors_are_left_to_retries(error):
    with pytest.raises(type(error)):
        Raising(error=error).execute({})
    with pytest.raises(type(error)), fail_without_retry():
        raise error


class Resumed(Raising):
    def execute_complete(self, context, event):
        raise self.error


@pytest.mark.parametrize("error", NON_RETRYABLE_ERRORS, ids=lambda e: type(e).__name__)
def test_a_task_resumed_after_a_deferral_goes_through_the_same_adapter(error):
    with pytest.raises(AirflowFailException, match=re.escape(str(error))):
        Resumed(error=error).resume_execution("execute_complete", {"event": {}}, {})


def test_no_operator_raises_airflows_failure_itself():
    """An aggregated failure is an error of the vocabulary; only the adapter speaks Airflow's."""
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    adapter = plugins / "archiveflow" / "operators" / "base.py"
    raising = [str(path.relative_to(plugins)) for path in plugins.rglob("*.py")
               if path != adapter and "AirflowFailException" in path.read_text()]
    assert raising == []

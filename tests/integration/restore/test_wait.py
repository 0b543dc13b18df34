"""Restore requests and the deferrable wait on the local stack: a forced retry never pays twice,
the operator defers while a restore is in progress, the trigger fires when it completes and, past
its deadline, fails naming the bundle still in progress."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from tests.integration.restore.conftest import pack

from archiveflow.operators.restore import RequestRestoresOperator, WaitForRestoresOperator
from archiveflow.restore import bundles
from archiveflow.triggers.s3_restore import S3RestoreTrigger

pytestmark = pytest.mark.integration


class Hook:
    """Stands in for S3Hook so the operator uses the test's client (and its event hooks)."""

    def __init__(self, s3):
        self.conn = s3


def first_event(trigger: S3RestoreTrigger) -> dict:
    """Run the trigger as the triggerer does, until its first event."""

    async def run() -> dict:
        events = trigger.run()
        event = await anext(events)
        await events.aclose()
        return event.payload

    return asyncio.run(run())


def plan_for(aws, project: str, *, tier: str = "Bulk") -> dict:
    document = pack(aws, {f"{project}/{i}/f.csv": b"%d\n" % i for i in range(4)}, project, file_count=2,
                    storage_class="DEEP_ARCHIVE")
    described = [bundles.describe(aws.s3, aws.archive, unit["archive_key"]) for unit in document["units"]]
    request = {"dry_run": False, "retrieval_tier": tier, "restore_days": 2, "poll_interval": 1, "max_wait_hours": 1}
    return {"request": request, "bundles": described}


def test_a_forced_retry_issues_no_second_restore_request(aws, monkeypatch):
    plan = plan_for(aws, aws.unique("retry"))
    calls: list[str] = []
    lost: list[bool] = []

    def lose_second_response(**_):
        if len(calls) == 2 and not lost:  # S3 took the 2nd request; the worker died before the answer
            lost.append(True)
            raise ConnectionError("worker lost")

    aws.s3.meta.events.register("before-parameter-build.s3.RestoreObject", lambda params, **_: calls.append(params["Key"]))
    aws.s3.meta.events.register("after-call.s3.RestoreObject", lose_second_response)
    monkeypatch.setattr(RequestRestoresOperator, "s3", lambda self: Hook(aws.s3))
    operator = RequestRestoresOperator(task_id="request_restores", plan=plan)
    with pytest.raises(ConnectionError):
        operator.run({})
    waiting = operator.run({})  # the retry: both restores exist, none is requested again
    assert sorted(calls) == sorted(b["key"] for b in plan["bundles"])
    assert sorted(o["key"] for o in waiting) == sorted(b["key"] for b in plan["bundles"])


@pytest.mark.emulator_restore_state
def test_the_wait_defers_then_fires_and_times_out_naming_the_bundle(aws, restore_delay, monkeypatch):
    plan = plan_for(aws, aws.unique("wait"))
    held, free = plan["bundles"]
    restore_delay.hold(aws.s3, aws.archive, [held["key"]])
    aws.s3.restore_object(Bucket=aws.archive, Key=free["key"], RestoreRequest={"Days": 1})
    objects = [{"bucket": b["bucket"], "key": b["key"]} for b in (held, free)]

    monkeypatch.setattr(WaitForRestoresOperator, "s3", lambda self: Hook(aws.s3))
    operator = WaitForRestoresOperator(task_id="wait_for_restores", plan=plan, objects=objects)
    with pytest.raises(TaskDeferred) as deferred:
        operator.run({})
    trigger = deferred.value.trigger
    assert [o["key"] for o in trigger.objects] == [held["key"]]  # only what is still in progress

    expired = S3RestoreTrigger(objects, end_time=time.time() + 2, poll_interval=1)
    event = first_event(expired)
    assert event["status"] == "timeout" and event["pending"] == [objects[0]]
    with pytest.raises(AirflowFailException, match=held["key"]):  # through the one adapter: no retry
        operator.resume_execution("execute_complete", {"event": event}, {})

    restore_delay.unset()  # the restore completes
    event = first_event(trigger)
    assert event["status"] == "success"
    operator.execute_complete({}, event)

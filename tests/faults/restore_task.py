"""s3_restore's tasks as a killable process: `python restore_task.py CONF_JSON RUN_ID`.

The DAG's own operators, executed in order as their tasks would be: look_up, request_restores,
wait_for_restores (its deferral run as the triggerer runs it: the trigger until its first event,
then the task resumed with it), extract, notify. Every RestoreObject call the process makes is
printed (`RestoreObject <bucket>/<key>`), so the test counts the restore requests of all tries.
"""

import asyncio
import json
import logging
import sys

import botocore.client
from airflow.sdk.exceptions import TaskDeferred

from archiveflow.operators.restore import (
    ExtractFilesOperator,
    LookUpFilesOperator,
    NotifyRestoreOperator,
    RequestRestoresOperator,
    WaitForRestoresOperator,
)

_make_api_call = botocore.client.BaseClient._make_api_call


def _printing_restores(self, operation_name, api_params):
    if operation_name == "RestoreObject":
        print(f"RestoreObject {api_params['Bucket']}/{api_params['Key']}", flush=True)
    return _make_api_call(self, operation_name, api_params)


def triggered(trigger) -> dict:
    async def first_event() -> dict:
        events = trigger.run()
        event = await anext(events)
        await events.aclose()
        return event.payload

    return asyncio.run(first_event())


def run(conf: dict, run_id: str) -> dict:
    context = {"params": conf, "run_id": run_id}
    plan = LookUpFilesOperator(task_id="look_up").execute(context)
    waiting = RequestRestoresOperator(task_id="request_restores", plan=plan).execute(context)
    wait = WaitForRestoresOperator(task_id="wait_for_restores", plan=plan, objects=waiting)
    try:
        wait.execute(context)
    except TaskDeferred as deferred:
        print("deferred: the trigger polls", flush=True)
        wait.resume_execution(deferred.method_name, {"event": triggered(deferred.trigger), **(deferred.kwargs or {})},
                              context)
    extracted = ExtractFilesOperator(task_id="extract", plan=plan).execute(context)
    return NotifyRestoreOperator(task_id="notify", plan=plan, extracted=extracted).execute(context)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    botocore.client.BaseClient._make_api_call = _printing_restores
    print("RESULT " + json.dumps(run(json.loads(sys.argv[1]), sys.argv[2]), default=str), flush=True)

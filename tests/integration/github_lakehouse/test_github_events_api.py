"""github_events_api's poll against the Events API fake and the local stack: ETag, pagination,
no event written twice, a retry rewrites its own object, an exhausted rate limit defers."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
import uuid
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred
from tests.integration.github_lakehouse.lakehouse_tables import load_dag, scan, task_result

from archiveflow.github_lakehouse.bronze import events_api_key

pytestmark = pytest.mark.integration


def poll_context(conn_id: str, run_id: str, run_after: dt.datetime) -> dict:
    return {"params": {"http_conn_id": conn_id, "per_page": 100}, "run_id": run_id,
            "dag_run": SimpleNamespace(run_after=run_after)}


def written_ids(lake, key: str) -> list[str]:
    body = lake.s3.get_object(Bucket=lake.bucket, Key=key)["Body"].read()
    return [json.loads(line)["id"] for line in gzip.decompress(body).splitlines()]


def test_polls_write_each_event_once(lake, events_api):
    from archiveflow.operators.github_lakehouse import PollEventsApiOperator

    operator = PollEventsApiOperator(task_id="poll_events")
    day = dt.datetime.fromisoformat(lake.unique_day()).replace(tzinfo=dt.UTC)
    keys = []

    def run(minute: int, run_id: str | None = None) -> dict:
        moment = day + dt.timedelta(minutes=minute)
        keys.append(events_api_key(moment))
        return operator.execute(poll_context(events_api.conn_id, run_id or f"t__{uuid.uuid4().hex[:8]}", moment))

    published = events_api.publish(250)
    first = run(0)
    assert (first["outcome"], first["events_written"], first["pages"]) == ("new", 250, 3)
    assert sorted(written_ids(lake, keys[-1])) == sorted(published)

    assert run(5)["outcome"] == "not_modified"  # same ETag: 304, nothing written
    assert lake.keys(keys[-1]) == []

    newer = events_api.publish(30)
    third = run(10, run_id="t__third")
    assert (third["events_written"], third["pages"]) == (30, 1)  # stops at the first already-ingested event
    retried = run(10, run_id="t__third")  # a retry of that run redoes it from where it started
    assert retried["events_written"] == 30 and sorted(written_ids(lake, keys[-1])) == sorted(newer)
    assert run(10)["outcome"] == "already_ingested"  # another run cleared onto an existing object

    every = [i for key in sorted(set(keys)) if lake.keys(key) for i in written_ids(lake, key)]
    assert sorted(every) == sorted(events_api.published()) and len(every) == len(set(every))


def test_exhausted_rate_limit_defers_until_the_reset(lake, events_api):
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    from archiveflow.operators.github_lakehouse import PollEventsApiOperator

    operator = PollEventsApiOperator(task_id="poll_events")
    new = events_api.publish(5)
    events_api.rate_limit(0, 8)
    moment = dt.datetime.fromisoformat(lake.unique_day()).replace(tzinfo=dt.UTC)
    context = poll_context(events_api.conn_id, f"t__{uuid.uuid4().hex[:8]}", moment)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, DateTimeTrigger) and deferred.value.method_name == "resume_after_rate_limit"
    assert 0 < (trigger.moment.timestamp() - time.time()) < 15
    time.sleep(max(trigger.moment.timestamp() - time.time(), 0) + 0.5)
    result = operator.resume_after_rate_limit(context)
    assert result["events_written"] == 5 and written_ids(lake, events_api_key(moment)) == list(reversed(new))


def test_a_poll_reaches_silver_and_an_empty_poll_skips_it(lake, events_api, airflow_db):
    """The DAG end to end (dag.test): the poll's object is merged into Silver; the next poll finds
    nothing new (304) and `update_silver` is skipped, not run on a missing object."""
    dag = load_dag("github_events_api")
    published = events_api.publish(40)
    run = dag.test(run_conf={"http_conn_id": events_api.conn_id})
    assert run.state == "success"
    poll = task_result(run, "poll_events")
    assert poll["events_written"] == 40 and task_result(run, "update_silver")[1]["rows_written"] == 40
    silver = set(scan("github_events_silver", [poll["ingest_dt"]], "id").column("id").to_pylist())
    assert set(published) <= silver

    again = dag.test(run_conf={"http_conn_id": events_api.conn_id})
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert task_result(again, "poll_events")["outcome"] == "not_modified"
    assert (states["new_events"], states["update_silver"]) == ("success", "skipped")
    assert set(scan("github_events_silver", [poll["ingest_dt"]], "id").column("id").to_pylist()) == silver

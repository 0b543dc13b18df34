"""Silver and Gold file an event under its own time (created_at, UTC), whichever source delivered
it first; a line with an unreadable created_at does not stop its hour; tables written before are
moved to event time by github_gold's `recompute_event_time`. Real operators on the local stack."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import random
from collections import defaultdict
from types import SimpleNamespace

import pytest
from tests.integration.github_lakehouse.lakehouse_tables import scan

from archiveflow.github_lakehouse.bronze import GhHour
from archiveflow.github_lakehouse.events_api import ApiResponse

pytestmark = pytest.mark.integration


def context(**params) -> dict:
    return {"params": params, "run_id": f"t__{random.SystemRandom().getrandbits(32):x}"}


def event(event_id: int, created: dt.datetime, kind: str, repo: str, actor: int) -> dict:
    return {"id": str(event_id), "type": kind, "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "actor": {"id": actor, "login": f"user{actor}"}, "repo": {"id": hash(repo) % 10**6, "name": repo},
            "payload": {"action": "started"} if kind == "WatchEvent" else {"size": 1}}


def midnight_events(day: dt.date, first_id: int) -> dict[str, list[dict]]:
    """Events around the midnight after `day`: which GH Archive hour and which poll (at 00:00:30)
    carries each. Ids grow with `first_id` (the poll keeps only ids above its last watermark)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    late = [event(first_id + i, midnight - dt.timedelta(seconds=10 + i), kind, f"o/r{i % 2}", i)
            for i, kind in enumerate(["PushEvent", "WatchEvent", "PushEvent"])]
    early = [event(first_id + 10 + i, midnight + dt.timedelta(seconds=5 + i), "PushEvent", "o/r0", 7) for i in range(2)]
    only_archive_late = [event(first_id + 20, midnight - dt.timedelta(minutes=50), "IssuesEvent", "o/r1", 3)]
    only_archive_early = [event(first_id + 30, midnight + dt.timedelta(minutes=20), "WatchEvent", "o/r2", 4)]
    return {f"{day}-23": late + only_archive_late, f"{day + dt.timedelta(days=1)}-0": early + only_archive_early,
            "poll": sorted(late + early, key=lambda e: -int(e["id"]))}


def serve_hour(lake, name: str, events: list[dict], extra_lines: list[bytes] = ()) -> GhHour:
    hour = GhHour.parse(name)
    lines = [json.dumps(e, separators=(",", ":")).encode() for e in events] + list(extra_lines)
    (lake.dir / hour.source_path).write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return hour


def ingest_hour(lake, hour: GhHour) -> dict:
    from archiveflow.operators.github_lakehouse import IngestHourOperator

    plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": lake.bucket, "key": hour.bronze_key}
    return IngestHourOperator(task_id="ingest_hour", plan=plan).execute(
        context(http_conn_id="gharchive_default", max_malformed_percent=50))


def poll_events(monkeypatch, events_api, events: list[dict], polled_at: dt.datetime) -> dict:
    from archiveflow.operators.github_lakehouse import PollEventsApiOperator

    page = ApiResponse(200, {}, json.dumps(events, separators=(",", ":")).encode())
    monkeypatch.setattr(PollEventsApiOperator, "_fetcher", lambda self, conn_id: lambda endpoint, headers: page)
    return PollEventsApiOperator(task_id="poll_events").execute(
        {**context(http_conn_id=events_api.conn_id), "dag_run": SimpleNamespace(run_after=polled_at)})


def update_silver(source_task_id: str, summary: dict) -> list[str]:
    """The DAGs' update_silver task on `summary` (the source task's XCom); the days its Asset event names."""
    from archiveflow.operators.github_lakehouse import update_silver_task

    task = update_silver_task(source_task_id)
    task.sql = [name for name in task.sql if not name.endswith("_table.sql")]   # the fixture made it
    task.parameters = {**task.parameters, "ingest_dt": summary["ingest_dt"], "bronze_object": summary["bronze"]}
    outlet_events: defaultdict = defaultdict(SimpleNamespace)
    ti = SimpleNamespace(xcom_pull=lambda task_ids: summary)
    task.execute({**context(), "ti": ti, "outlet_events": outlet_events})
    return next(iter(outlet_events.values())).extra["days"]


@pytest.fixture(scope="module")
def tables(lake, airflow_db):
    """Bronze, Silver and the Gold tables exist (the steps below run their MERGEs only)."""
    from archiveflow.operators.github_gold import GOLD_SQL
    from archiveflow.operators.github_lakehouse import SILVER_SQL, RegisterBronzeTableOperator
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

    RegisterBronzeTableOperator(task_id="register_bronze_table").execute(context())
    LakehouseSqlOperator(task_id="tables", sql=[SILVER_SQL[0], *GOLD_SQL[:3]]).execute(context())


def update_gold(days: list[str], **conf) -> None:
    from archiveflow.operators.github_gold import PlanGoldDaysOperator, SilverToEventTimeOperator
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

    params = {"days": days, **conf}
    SilverToEventTimeOperator(task_id="silver_to_event_time").execute(context(**params))
    plan = PlanGoldDaysOperator(task_id="plan_days").execute({**context(**params), "triggering_asset_events": {}})
    for kwargs in plan:
        sql = [name for name in kwargs.pop("sql") if not name.endswith("_table.sql")]   # the fixture made them
        LakehouseSqlOperator(task_id="update_gold", sql=sql, **kwargs).execute(context())


def layers(day: dt.date, first_id: int) -> dict:
    """Silver and Gold of `day` and the day after, with days as offsets from `day` and ids from
    `first_id`: comparable between two deliveries of the same events on different days."""
    days = [day.isoformat(), (day + dt.timedelta(days=1)).isoformat()]

    def offset(value) -> int:
        return (value - day).days

    silver = scan("github_events_silver", days, "id", "event_type", "created_at", "ingest_dt", "repo_name",
                  "actor_login", "payload_action", "payload_raw").to_pylist()
    daily = scan("github_events_gold_daily", days, "ingest_dt", "event_type", "repo_name", "events_count").to_pylist()
    hourly = scan("github_events_gold_hourly", days, "ingest_dt", "event_hour", "event_type", "events_count",
                  "actors_count", "repos_count").to_pylist()
    midnight = dt.datetime.combine(day, dt.time())
    return {
        "silver": sorted((int(r["id"]) - first_id, r["event_type"], (r["created_at"] - midnight).total_seconds(),
                          offset(r["ingest_dt"]), r["repo_name"], r["actor_login"], r["payload_action"],
                          r["payload_raw"]) for r in silver),
        "gold_daily": sorted((offset(r["ingest_dt"]), r["event_type"], r["repo_name"], r["events_count"]) for r in daily),
        "gold_hourly": sorted((offset(r["ingest_dt"]), *list(r.values())[1:]) for r in hourly),
    }


def test_the_same_events_through_both_sources_in_both_orders_give_the_same_silver_and_gold(
        lake, tables, events_api, monkeypatch):
    """Events of 23:59:50 polled at 00:00:30 (Bronze: the next day's partition) and also in GH
    Archive's 23:00 hour: Silver and Gold are the same whether the poll or the archive came first,
    and each day counts the events created that day."""
    results = []
    base = 42_000_000_000 + random.SystemRandom().randrange(10**6) * 1000
    for order, first_id in (("poll first", base), ("archive first", base + 100)):
        day = dt.date.fromisoformat(lake.unique_day())
        events = midnight_events(day, first_id)
        hours = [serve_hour(lake, name, events[name]) for name in events if name != "poll"]
        polled_at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0, 30), tzinfo=dt.UTC)
        deliveries = [("poll_events", functools.partial(poll_events, monkeypatch, events_api, events["poll"], polled_at))]
        deliveries += [("ingest_hour", functools.partial(ingest_hour, lake, hour)) for hour in hours]
        if order == "archive first":
            deliveries.reverse()
        gold_days: set[str] = set()
        for source_task_id, deliver in deliveries:
            summary = deliver()
            gold_days.update(update_silver(source_task_id, summary))
        assert sorted(gold_days) == [day.isoformat(), (day + dt.timedelta(days=1)).isoformat()], order
        update_gold(sorted(gold_days))
        results.append(layers(day, first_id))

    poll_first, archive_first = results
    assert poll_first == archive_first
    assert [row[:4] for row in poll_first["silver"]] == [
        (0, "PushEvent", 86390.0, 0), (1, "WatchEvent", 86389.0, 0), (2, "PushEvent", 86388.0, 0),
        (10, "PushEvent", 86405.0, 1), (11, "PushEvent", 86406.0, 1), (20, "IssuesEvent", 83400.0, 0),
        (30, "WatchEvent", 87600.0, 1)]
    assert sum(r[3] for r in poll_first["gold_daily"] if r[0] == 0) == 4     # created on the day, all of them
    assert {(r[0], r[1]) for r in poll_first["gold_hourly"]} == {(0, 23), (1, 0)}


def test_an_unreadable_created_at_is_counted_at_bronze_and_the_hour_lands(lake, tables):
    """A line whose created_at no layer can read (30 February) is counted and quoted by the
    ingestion; the rest of the hour reaches Silver. A Bronze object written before that check
    (the line inside) is merged without it: Silver skips what it cannot read."""
    day = dt.date.fromisoformat(lake.unique_day())
    first_id = 43_000_000_000 + random.SystemRandom().randrange(10**6) * 1000
    good = [event(first_id + i, dt.datetime.combine(day, dt.time(5, i), tzinfo=dt.UTC), "PushEvent", "o/r", i)
            for i in range(3)]
    bad = json.dumps({**event(first_id + 9, dt.datetime(2024, 1, 1), "PushEvent", "o/r", 9),
                      "created_at": "2024-02-30T05:00:00Z"}).encode()
    hour = serve_hour(lake, f"{day}-5", good, [bad])
    summary = ingest_hour(lake, hour)
    assert (summary["written"], summary["malformed"]) == (3, {"created_at is not a real date": 1})
    assert summary["malformed_samples"][0]["line"] == 4 and "2024-02-30" in summary["malformed_samples"][0]["text"]
    assert update_silver("ingest_hour", summary) == [day.isoformat()]
    ids = scan("github_events_silver", [day.isoformat()], "id").column("id").to_pylist()
    assert sorted(ids) == sorted(e["id"] for e in good)

    older = f"github/events/ingest_dt={day}/gharchive-{day}-06.json.gz"   # as Bronze held such lines before
    lines = [json.dumps({"id": str(first_id + 20), "type": "PushEvent", "created_at": f"{day}T06:00:00Z"}).encode(),
             json.dumps({"id": str(first_id + 21), "type": "PushEvent", "created_at": "2024-02-30T06:00:00Z"}).encode()]
    lake.s3.put_object(Bucket=lake.bucket, Key=older, Body=gzip.compress(b"\n".join(lines)))
    update_silver("ingest_hour", {"ingest_dt": day.isoformat(), "bronze": f"s3://{lake.bucket}/{older}",
                                  "days": [day.isoformat()]})
    ids = scan("github_events_silver", [day.isoformat()], "id").column("id").to_pylist()
    assert str(first_id + 20) in ids and str(first_id + 21) not in ids


def test_tables_written_before_are_moved_to_event_time_by_github_gold(lake, tables):
    """Silver rows filed under the day they arrived (as before event time) are moved to their
    event's day, and Gold of both days is recomputed, the arrival day losing the rows it no longer
    holds, by a github_gold run with `recompute_event_time`. A second run finds nothing to move."""
    import pyarrow as pa

    from archiveflow import resources
    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.operators.github_gold import SilverToEventTimeOperator
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

    day = dt.date.fromisoformat(lake.unique_day())
    after = day + dt.timedelta(days=1)
    first_id = 44_000_000_000 + random.SystemRandom().randrange(10**6) * 1000
    late = dt.datetime.combine(after, dt.time()) - dt.timedelta(seconds=10)
    rows = [(first_id, "PushEvent", late, "o/late", after), (first_id + 1, "PushEvent", late, "o/both", after),
            (first_id + 2, "PushEvent", late + dt.timedelta(seconds=20), "o/both", after),
            (first_id + 3, "WatchEvent", late - dt.timedelta(hours=2), "o/both", day)]
    table = IcebergCatalogHook().catalog.load_table(f"{resources.glue_database('lakehouse')}.github_events_silver")
    table.append(pa.Table.from_pylist([
        {"id": str(i), "event_type": kind, "created_at": created, "repo_id": 1, "repo_name": repo, "actor_id": 1,
         "actor_login": "u", "payload_action": None, "payload_raw": "{}", "ingest_dt": arrived,
         "year": created.year, "month": created.month} for i, kind, created, repo, arrived in rows],
        schema=table.schema().as_arrow()))
    for arrival_day in (day, after):   # gold_daily as it was: by arrival day
        LakehouseSqlOperator(task_id="gold_daily", sql="github_lakehouse/gold_daily_merge.sql",
                             parameters={"ingest_dt": arrival_day.isoformat()}).execute(context())
    assert sorted(tuple(r.values()) for r in scan("github_events_gold_daily", [day.isoformat(), after.isoformat()],
                                                  "ingest_dt", "event_type", "repo_name", "events_count").to_pylist()
                  ) == [(day, "WatchEvent", "o/both", 1), (after, "PushEvent", "o/both", 2),
                        (after, "PushEvent", "o/late", 1)]

    update_gold([day.isoformat()], recompute_event_time=True)
    silver = scan("github_events_silver", [day.isoformat(), after.isoformat()], "id", "ingest_dt").to_pylist()
    assert sorted((int(r["id"]) - first_id, r["ingest_dt"]) for r in silver) == [
        (0, day), (1, day), (2, after), (3, day)]
    daily = scan("github_events_gold_daily", [day.isoformat(), after.isoformat()], "ingest_dt", "event_type",
                 "repo_name", "events_count").to_pylist()
    assert sorted(tuple(r.values()) for r in daily) == [
        (day, "PushEvent", "o/both", 1), (day, "PushEvent", "o/late", 1), (day, "WatchEvent", "o/both", 1),
        (after, "PushEvent", "o/both", 1)]   # o/late left the day after: its row there is gone
    top = scan("github_events_gold_top_repos", [after.isoformat()], "repo_rank", "repo_name").to_pylist()
    assert [(r["repo_rank"], r["repo_name"]) for r in top] == [(1, "o/both")]
    again = SilverToEventTimeOperator(task_id="silver_to_event_time").execute(
        context(days=[day.isoformat()], recompute_event_time=True))
    assert again[0]["rows_written"] == 0   # a re-run finds nothing to move

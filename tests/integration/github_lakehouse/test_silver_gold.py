"""Silver and Gold on the local stack: github_ingestion's `update_silver` merges each hour's Bronze
object into the Iceberg table github_events_silver (DuckDB computes, pyiceberg commits), and
github_gold recomputes the days' Gold tables. Expected figures come from the generator's record,
never from the pipeline."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from tests.integration.github_lakehouse.lakehouse_tables import load_dag, scan, task_result, unique_day

from archiveflow.github_lakehouse.bronze import GhHour
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ingested(lake, airflow_db):
    """Three hours across midnight (22:00, 23:00, 00:00), each repeating events of the hour before;
    the middle hour runs twice."""
    day = dt.date.fromisoformat(lake.unique_day())
    first = GhHour(dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC))
    hours = [GhHour(first.start + dt.timedelta(hours=n)) for n in range(3)]
    for hour in hours:
        generate_hour(lake.dir, hour, events=400, repeats=5)
    record = read_record(lake.dir)
    # The first hour's repeats come from an hour never ingested: only the later hours' are duplicates.
    duplicates = sum(len(record[h.name]["repeated_ids"]) for h in hours[1:])
    valid = sum(record[h.name]["lines"] - record[h.name]["malformed"] for h in hours)
    dag = load_dag("github_ingestion")
    runs = []
    for hour in [*hours, hours[1]]:
        runs.append(dag.test(run_conf={"hour": hour.name, "max_malformed_percent": 5}))
        assert runs[-1].state == "success", hour
    return SimpleNamespace(days=sorted({h.ingest_dt for h in hours}), expected_rows=valid - duplicates,
                           duplicates=duplicates, runs=runs)


def test_silver_holds_each_event_once_and_reruns_insert_nothing(ingested):
    ids = scan("github_events_silver", ingested.days, "id").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == ingested.expected_rows

    steps = task_result(ingested.runs[-1], "update_silver")
    assert [s["sql"] for s in steps] == ["github_lakehouse/silver_table.sql", "github_lakehouse/silver_merge.sql"]
    assert steps[1]["rows_written"] == 0   # the re-run of an hour inserts nothing
    first_runs = [task_result(run, "update_silver")[1]["rows_written"] for run in ingested.runs[:3]]
    assert sum(first_runs) == ingested.expected_rows


def test_gold_sums_equal_silver_and_a_rerun_changes_nothing(ingested):
    dag = load_dag("github_gold")
    for _ in range(2):
        run = dag.test(run_conf={"days": ingested.days})
        assert run.state == "success"
        daily = scan("github_events_gold_daily", ingested.days, "ingest_dt", "event_type", "repo_name",
                     "events_count").to_pylist()
        assert sum(row["events_count"] for row in daily) == ingested.expected_rows
        keys = [(r["ingest_dt"], r["event_type"], r["repo_name"]) for r in daily]
        assert len(keys) == len(set(keys))
        hourly = scan("github_events_gold_hourly", ingested.days, "events_count").column("events_count").to_pylist()
        assert sum(hourly) == ingested.expected_rows
    top = scan("github_events_gold_top_repos", ingested.days, "ingest_dt", "repo_rank", "repo_name",
               "events_count").to_pylist()
    for day in ingested.days:
        ranked = sorted((r for r in top if str(r["ingest_dt"]) == day), key=lambda r: r["repo_rank"])
        per_repo: dict[str, int] = {}
        for row in daily:
            if str(row["ingest_dt"]) == day and row["repo_name"]:
                per_repo[row["repo_name"]] = per_repo.get(row["repo_name"], 0) + row["events_count"]
        assert [r["repo_rank"] for r in ranked] == list(range(1, min(100, len(per_repo)) + 1))
        assert ranked[0]["events_count"] == max(per_repo.values())


def test_example_queries_run_locally_on_gold(ingested):
    from devstack.lakehouse_query import query_names, run_query

    assert set(query_names()) >= {"top_event_types", "top_repositories", "event_types_last_7_days"}
    columns, rows = run_query("event_types_last_7_days", ingested.days[-1])
    assert columns == ["ingest_dt", "event_type", "total"]
    assert sum(row[2] for row in rows) == ingested.expected_rows
    columns, rows = run_query("top_repositories", ingested.days[0])
    assert columns == ["repo_name", "activity"] and 0 < len(rows) <= 10
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)


def test_hours_merged_at_the_same_time_still_hold_each_event_once(lake, airflow_db, monkeypatch):
    """A backfill runs hours in parallel: two Silver MERGEs sharing event ids race to commit. The race
    is forced: hour 5's MERGE computes its rows, then hour 6's (which repeats 40 of hour 5's events)
    merges and commits first. Hour 5's commit must be refused, its rows having been computed on the
    older snapshot, and recomputed on the winner's: the shared ids are inserted once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from archiveflow.lakehouse import local_engine
    from archiveflow.operators.github_lakehouse import (
        IngestHourOperator,
        RegisterBronzeTableOperator,
        silver_parameters,
    )
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

    RegisterBronzeTableOperator(task_id="register_bronze_table").execute({"run_id": "race"})
    LakehouseSqlOperator(task_id="silver_table", sql="github_lakehouse/silver_table.sql").execute({"run_id": "race"})
    day = lake.unique_day()
    hours = [GhHour.parse(f"{day}-{h}") for h in (5, 6)]
    for hour in hours:
        generate_hour(lake.dir, hour, events=300, repeats=40)
        plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": lake.bucket, "key": hour.bronze_key}
        IngestHourOperator(task_id="ingest_hour", plan=plan).execute(
            {"params": {"http_conn_id": "gharchive_default", "max_malformed_percent": 5}, "run_id": "race"})
    record = read_record(lake.dir)
    expected = sum(record[h.name]["events"] for h in hours) - len(record[hours[1].name]["repeated_ids"])

    def merge(hour: GhHour) -> int:
        task = LakehouseSqlOperator(task_id="update_silver", sql=["github_lakehouse/silver_merge.sql"],
                                    parameters=silver_parameters(hour.ingest_dt, f"s3://{lake.bucket}/{hour.bronze_key}"))
        return task.execute({"run_id": f"race_{hour.name}"})[0]["rows_written"]

    commit, commits = local_engine._commit, []
    computed, overtaken = threading.Event(), threading.Event()

    def commit_once_overtaken(*args, **kwargs):
        commits.append(threading.get_ident())
        if len(commits) == 1:  # hour 5's rows are computed: hour 6 merges and commits now
            computed.set()
            assert overtaken.wait(600)
        return commit(*args, **kwargs)

    monkeypatch.setattr(local_engine, "_commit", commit_once_overtaken)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(merge, hours[0])
        assert computed.wait(600)
        try:
            second = merge(hours[1])
        finally:
            overtaken.set()
        written = [first.result(timeout=600), second]
    ids = scan("github_events_silver", [day], "id").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == sum(written) == expected
    assert len(commits) == 3 and commits[0] == commits[2] != commits[1]  # hour 5 lost once and recomputed


def test_no_two_tests_get_the_same_day_or_a_neighbouring_one():
    """The tests share the Silver and Gold tables and count a day's rows, and a test's events may fall
    on its day's neighbours: the race test above once counted the 400 events another test's
    midnight hour filed under the day after its own (1,040 rows for its 640 events)."""
    days = sorted(dt.date.fromisoformat(unique_day()) for _ in range(200))
    assert all((later - earlier).days >= 3 for earlier, later in zip(days, days[1:], strict=False))

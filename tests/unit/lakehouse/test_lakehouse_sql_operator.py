"""LakehouseSqlOperator on Athena (what it submits, and that it defers to the provider's trigger),
and the SQL files as statements the local engine understands. No services: the Athena client call
is captured."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

import pytest
import sqlglot
from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.sdk.exceptions import TaskDeferred
from sqlglot import exp

from archiveflow.assets import GITHUB_EVENTS_SILVER
from archiveflow.errors import TransientServiceError
from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook
from archiveflow.lakehouse.statements import (
    UnsupportedStatement,
    athena_sql,
    duckdb_sql,
    iceberg_table_def,
    load_statement,
    merge_plan,
)
from archiveflow.operators.github_lakehouse import SILVER_SQL as SILVER
from archiveflow.operators.github_lakehouse import silver_parameters
from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

BRONZE_OBJECT = "s3://archiveflow-lakehouse/github/events/ingest_dt=2024-01-15/gharchive-2024-01-15-05.json.gz"


@pytest.fixture
def athena(monkeypatch):
    submitted = []

    def run_query(self, query, query_context, result_configuration, client_request_token=None, workgroup="primary"):
        submitted.append({"query": query, "context": query_context, "results": result_configuration,
                          "workgroup": workgroup, "aws_conn_id": self.aws_conn_id})
        return f"query-{len(submitted)}"

    monkeypatch.setattr(AthenaHook, "run_query", run_query)
    monkeypatch.setattr(LakehouseSqlHook, "extra", property(lambda self: {
        "engine": "athena", "workgroup": "analytics", "aws_conn_id": "aws_prod"}))
    return submitted


def operator(**kwargs) -> LakehouseSqlOperator:
    return LakehouseSqlOperator(task_id="update_silver", sql=SILVER, outlets=[GITHUB_EVENTS_SILVER],
                                parameters=silver_parameters("2024-01-15", BRONZE_OBJECT),
                                asset_extra={"days": ["2024-01-15"]}, **kwargs)


def test_athena_path_submits_each_file_and_defers_to_the_providers_trigger(athena):
    task = operator()
    context = {"run_id": "r1", "outlet_events": defaultdict(SimpleNamespace)}
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, AthenaTrigger) and deferred.value.method_name == "resume_after_query"
    assert trigger.serialize()[1]["query_execution_id"] == "query-1"
    assert trigger.serialize()[1]["aws_conn_id"] == "aws_prod"
    ddl = athena[0]
    assert ddl["context"] == {"Database": "archiveflow_lakehouse"} and ddl["workgroup"] == "analytics"
    assert ddl["results"] == {"OutputLocation": "s3://archiveflow-athena-results/lakehouse_sql/"}
    assert "LOCATION 's3://archiveflow-lakehouse/github/silver/'" in ddl["query"]
    assert "'table_type'='ICEBERG'" in ddl["query"].replace(" ", "")

    first = deferred.value.kwargs
    with pytest.raises(TaskDeferred) as deferred:   # the DDL succeeded: the MERGE is submitted next
        task.resume_after_query(context, event={"status": "success", "value": "query-1"}, **first)
    merge = sqlglot.parse_one(athena[1]["query"], read="athena")
    assert isinstance(merge, exp.Merge) and merge.this.name == "github_events_silver"
    assert not list(merge.find_all(exp.Placeholder))
    literals = {lit.this for lit in merge.find_all(exp.Literal) if lit.is_string}
    assert {"2024-01-15", BRONZE_OBJECT} <= literals
    assert context["outlet_events"] == {}   # no asset event before the last statement succeeded

    done = task.resume_after_query(context, event={"status": "success", "value": "query-2"}, **deferred.value.kwargs)
    assert [(d["sql"], d["query_id"]) for d in done] == list(zip(SILVER, ["query-1", "query-2"], strict=True))
    assert context["outlet_events"][GITHUB_EVENTS_SILVER].extra == {"days": ["2024-01-15"]}


COMMIT_CONFLICT = ("ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table: "
                   "archiveflow_lakehouse.github_events_silver")


@pytest.fixture
def stubbed_athena(monkeypatch):
    """Athena as botocore answers it (Stubber): queries started, and how failed ones failed."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    monkeypatch.setattr(AthenaHook, "get_conn", lambda self: client)
    monkeypatch.setattr(LakehouseSqlHook, "extra", property(lambda self: {"engine": "athena", "workgroup": "wg"}))
    with Stubber(client) as stubber:
        stubber.started = []
        client.meta.events.register("provide-client-params.athena.StartQueryExecution",
                                    lambda params, **_: stubber.started.append(params["QueryString"]))

        def started(query_id: str) -> None:
            stubber.add_response("start_query_execution", {"QueryExecutionId": query_id})

        def failed(query_id: str, reason: str) -> None:
            stubber.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": query_id, "Status": {
                "State": "FAILED", "StateChangeReason": reason,
                "AthenaError": {"ErrorCategory": 2, "ErrorType": 1003, "Retryable": False, "ErrorMessage": reason}}}},
                {"QueryExecutionId": query_id})

        stubber.will_start, stubber.will_fail = started, failed
        yield stubber
        stubber.assert_no_pending_responses()


def silver_merge(run: str) -> LakehouseSqlOperator:
    return LakehouseSqlOperator(task_id=f"update_silver_{run}", sql=["github_lakehouse/silver_merge.sql"],
                                parameters=silver_parameters("2024-01-15", BRONZE_OBJECT))


def test_two_runs_at_once_on_athena_the_loser_resubmits_its_whole_merge(stubbed_athena):
    """Runs A and B merge into Silver at once; A commits first, B's query fails with
    ICEBERG_COMMIT_ERROR. B waits (deferred, jittered) and submits its whole MERGE again, which
    Athena computes from the snapshot A made; B succeeds on its second attempt."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    a, b = silver_merge("a"), silver_merge("b")
    stubbed_athena.will_start("qa1")
    stubbed_athena.will_start("qb1")
    with pytest.raises(TaskDeferred) as deferred_a:
        a.execute({"run_id": "a"})
    with pytest.raises(TaskDeferred) as deferred_b:
        b.execute({"run_id": "b"})
    assert a.resume_after_query({}, event={"status": "success", "value": "qa1"}, **deferred_a.value.kwargs)[0][
        "query_id"] == "qa1"

    stubbed_athena.will_fail("qb1", COMMIT_CONFLICT)
    with pytest.raises(TaskDeferred) as backoff:
        b.resume_after_query({}, event={"status": "error", "message": "FAILED", "value": "qb1"},
                             **deferred_b.value.kwargs)
    assert isinstance(backoff.value.trigger, DateTimeTrigger)
    assert backoff.value.method_name == "resubmit_after_conflict" and backoff.value.kwargs["attempt"] == 2
    wait = (backoff.value.trigger.moment - dt.datetime.now(dt.UTC)).total_seconds()
    assert 0.5 < wait <= 2.1   # the first backoff: 1-2 s, jittered
    stubbed_athena.will_start("qb2")
    with pytest.raises(TaskDeferred) as resubmitted:
        b.resubmit_after_conflict({}, event=None, **backoff.value.kwargs)
    assert resubmitted.value.method_name == "resume_after_query"
    assert stubbed_athena.started[1] == stubbed_athena.started[2]   # B's whole MERGE, as first submitted
    done = b.resume_after_query({}, event={"status": "success", "value": "qb2"}, **resubmitted.value.kwargs)
    assert [(d["query_id"], d["attempt"]) for d in done] == [("qb2", 2)]


def test_eight_lost_races_on_athena_fail_naming_the_table(stubbed_athena, monkeypatch):
    from archiveflow.lakehouse import commit_conflicts

    monkeypatch.setattr(commit_conflicts, "backoff_seconds", lambda attempt, base: 0.0)
    task = silver_merge("a")
    stubbed_athena.will_start("q1")
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "a"})
    for attempt in range(1, 8):
        stubbed_athena.will_fail(f"q{attempt}", COMMIT_CONFLICT)
        with pytest.raises(TaskDeferred) as backoff:
            task.resume_after_query({}, event={"status": "error"}, **deferred.value.kwargs)
        stubbed_athena.will_start(f"q{attempt + 1}")
        with pytest.raises(TaskDeferred) as deferred:
            task.resubmit_after_conflict({}, **backoff.value.kwargs)
    stubbed_athena.will_fail("q8", COMMIT_CONFLICT)
    with pytest.raises(TransientServiceError, match=r"archiveflow_lakehouse\.github_events_silver: 8 commits"):
        task.resume_after_query({}, event={"status": "error"}, **deferred.value.kwargs)


def test_another_athena_failure_fails_the_attempt_without_resubmitting(stubbed_athena):
    task = silver_merge("a")
    stubbed_athena.will_start("q1")
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "r1"})
    stubbed_athena.will_fail("q1", "SYNTAX_ERROR: line 1:1: mismatched input")
    with pytest.raises(TransientServiceError, match="did not succeed: SYNTAX_ERROR"):
        task.resume_after_query({}, event={"status": "error", "message": "FAILED"}, **deferred.value.kwargs)


def test_a_missing_parameter_is_a_bad_request_naming_it(athena):
    task = LakehouseSqlOperator(task_id="t", sql="github_lakehouse/silver_merge.sql", parameters={"ingest_dt": "x"})
    with pytest.raises(Exception, match="parameters.*bronze_object"):
        task.execute({"run_id": "r1"})
    assert athena == []


def test_parameters_are_bound_as_literals_not_pasted():
    tree = load_statement("github_lakehouse/queries/top_repositories.sql", {"day": "2024-01-15' OR 1=1 --"})
    where = tree.args["where"].sql("duckdb")
    assert "'2024-01-15'' OR 1=1 --'" in where


def test_table_files_give_iceberg_definitions():
    silver = iceberg_table_def(load_statement("github_lakehouse/silver_table.sql", variables={"lakehouse": "s3://b/"}))
    assert silver.partition_by == ("year", "month") and silver.location == "s3://b/github/silver/"
    assert [f.name for f in silver.schema().fields][:3] == ["id", "event_type", "created_at"]
    assert [f.name for f in silver.partition_spec().fields] == ["year", "month"]


def test_merge_plans():
    silver = merge_plan(load_statement("github_lakehouse/silver_merge.sql", silver_parameters("d", "p")))
    assert silver.kind == "insert" and "NOT EXISTS" in silver.rows_sql
    gold = merge_plan(load_statement("github_lakehouse/gold_daily_merge.sql", {"ingest_dt": "d"}), ("ingest_dt",))
    assert gold.kind == "upsert" and "touched" in gold.partition_rows_sql
    bad = sqlglot.parse_one("MERGE INTO g AS t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET v = s.v + 1 "
                            "WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)", read="athena")
    with pytest.raises(UnsupportedStatement, match="INSERT value"):
        merge_plan(bad, ("k",))


def test_both_silver_merges_insert_every_silver_column_through_one_clause():
    """silver_merge.sql and silver_event_time_merge.sql include one insert clause (`_silver_insert.sql`,
    not a statement of its own): both insert exactly Silver's columns, in the Athena and DuckDB texts."""
    silver = iceberg_table_def(load_statement("github_lakehouse/silver_table.sql", variables={"lakehouse": "s3://b/"}))
    columns = tuple(f.name for f in silver.schema().fields)
    for sql_file, parameters in [("github_lakehouse/silver_merge.sql", silver_parameters("d", "p")),
                                 ("github_lakehouse/silver_event_time_merge.sql", {})]:
        tree = load_statement(sql_file, parameters)
        assert merge_plan(tree, ("year", "month")).columns == columns, sql_file
        (insert,) = [when.args["then"] for when in tree.args["whens"].expressions if not when.args.get("matched")]
        assert [value.sql() for value in insert.expression.expressions] == [f"s.{c}" for c in columns]
        for text in (athena_sql(tree), duckdb_sql(tree)):
            assert f"INSERT({','.join(columns)})" in "".join(text.split()), (sql_file, text)


@pytest.mark.parametrize("lost_races", [7, 8])
def test_the_local_engine_recomputes_a_merge_that_lost_up_to_seven_races(monkeypatch, lost_races):
    """The local engine's policy is Athena's: 8 attempts, a jittered backoff between them, each
    attempt computed again on the table as it is then; the 8th lost race fails naming the table."""
    from pyiceberg.exceptions import CommitFailedException

    from archiveflow.lakehouse import local_engine

    table = SimpleNamespace(properties=dict(local_engine.NO_BLIND_RETRIES), snapshots=lambda: [],
                            spec=lambda: SimpleNamespace(fields=[]), schema=lambda: None)
    loads, waits = [], []
    catalog = SimpleNamespace(load_table=lambda identifier: loads.append(identifier) or table)
    engine = local_engine.LocalLakehouse(lambda: None, lambda: catalog, lambda: None, database="lake")

    def merge_once(tree, loaded, plan, properties):
        if len(loads) <= lost_races:
            raise CommitFailedException("the table changed since its snapshot")
        return local_engine.LocalResult("MERGE (insert)", rows_written=3)

    monkeypatch.setattr(engine, "_merge_once", merge_once)
    monkeypatch.setattr(local_engine, "discard_uncommitted", lambda table, write_id: None)  # no earlier try
    monkeypatch.setattr(local_engine.time, "sleep", waits.append)
    tree = load_statement("github_lakehouse/silver_merge.sql", silver_parameters("d", "p"))
    if lost_races == 8:
        with pytest.raises(CommitFailedException, match="lake.github_events_silver: 8 commits in a row"):
            engine.run(tree)
    else:
        assert engine.run(tree).rows_written == 3
    assert len(loads) == 8 and len(waits) == 7   # every attempt reloads the table's current snapshot
    assert all(0.05 * 2 ** n <= wait <= 0.1 * 2 ** n for n, wait in enumerate(waits))

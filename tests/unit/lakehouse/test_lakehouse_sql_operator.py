"""LakehouseSqlOperator on Athena (what it submits, and that it defers to the provider's trigger),
and the SQL files as statements the local engine understands. No services: the Athena client call
is captured."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import sqlglot
from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger
from airflow.sdk.exceptions import TaskDeferred
from sqlglot import exp

from archiveflow.assets import GITHUB_EVENTS_SILVER
from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook
from archiveflow.lakehouse.statements import (
    UnsupportedStatement,
    iceberg_table_def,
    load_statement,
    merge_plan,
)
from archiveflow.operators.github_lakehouse import SILVER_SQL as SILVER
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
                                parameters={"ingest_dt": "2024-01-15", "bronze_object": BRONZE_OBJECT},
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


def test_a_failed_athena_query_fails_the_attempt(athena):
    task = operator()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "r1"})
    with pytest.raises(Exception, match="did not succeed"):
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
    silver = merge_plan(load_statement("github_lakehouse/silver_merge.sql", {"ingest_dt": "d", "bronze_object": "p"}))
    assert silver.kind == "insert" and "NOT EXISTS" in silver.rows_sql
    gold = merge_plan(load_statement("github_lakehouse/gold_daily_merge.sql", {"ingest_dt": "d"}), ("ingest_dt",))
    assert gold.kind == "upsert" and "touched" in gold.partition_rows_sql
    bad = sqlglot.parse_one("MERGE INTO g AS t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET v = s.v + 1 "
                            "WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)", read="athena")
    with pytest.raises(UnsupportedStatement, match="INSERT value"):
        merge_plan(bad, ("k",))

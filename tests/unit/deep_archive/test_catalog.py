"""The archive catalog's plain parts: rows, the SQL it sends (lists bound as literals), the cost model
with both index modes, the index-mode Variable."""

from __future__ import annotations

from datetime import datetime

import pytest

from archiveflow.deep_archive import catalog, cost, index
from archiveflow.deep_archive import plan as planner
from archiveflow.errors import BadRequest
from archiveflow.lakehouse.statements import duckdb_sql, load_statement

UNIT = {"source_bucket": "src", "project_name": "p", "archive_bucket": "arch", "archive_key": "p/b.zip",
        "kind": "zip", "storage_class": "DEEP_ARCHIVE", "plan_id": "plan-1"}
ROW = {"key": "reports/2026/q1.csv", "size": 10, "etag": '"abc"', "last_modified": "2026-10-10T03:00:00+00:00"}


def test_a_catalog_row_holds_the_item_with_its_partition_values_and_utc_times():
    item = {**index.item(UNIT, ROW, "2026-11-10T04:00:00+01:00"), "member_name": "q1.csv", "header_offset": 0,
            "crc32": 7, "compressed_size": 9, "compression": "deflate"}
    row = catalog.row(item)
    assert (row["source_bucket"], row["key_prefix"], row["file_name"]) == ("src", "reports/", "q1.csv")
    assert row["version"] == item["version"] == '2026-10-10T03:00:00+00:00#abc'
    assert row["archived_at"] == datetime(2026, 11, 10, 3, 0)  # naive UTC, as Iceberg's timestamp
    assert (row["header_offset"], row["crc32"], row["member_name"]) == (0, 7, "q1.csv")
    assert catalog.row(index.item(UNIT, ROW, "2026-11-10T03:00:00+00:00"))["header_offset"] is None


def test_list_parameters_are_bound_as_one_literal_each_inside_in():
    sql = duckdb_sql(load_statement("deep_archive/catalog_files.sql", {
        "bucket": "src", "key_prefixes": ["reports/"], "keys": ["reports/a'b.csv", "reports/c.csv"]}))
    assert "key_prefix IN ('reports/')" in sql
    assert "source_key IN ('reports/a''b.csv', 'reports/c.csv')" in sql


def test_the_catalog_index_asks_by_bucket_in_chunks_and_groups_versions_by_file(monkeypatch):
    monkeypatch.setattr(catalog, "QUERY_KEYS_BYTES", 40)
    asked = []

    def select(sql_file, parameters):
        asked.append((sql_file, parameters))
        return [{"source_bucket": parameters["bucket"], "source_key": k, "version": v}
                for k in parameters["keys"] for v in ("1", "2")]

    names = [f"b1/k{i:02d}/file.txt" for i in range(6)] + ["b2/other/file.txt"]
    found = catalog.CatalogIndex(select, "db.archive_catalog").files(names, with_versions=False)
    assert sorted(found) == sorted(names)
    assert all([r["version"] for r in rows] == ["1", "2"] for rows in found.values())
    assert {p["bucket"] for _, p in asked} == {"b1", "b2"} and len(asked) > 2  # b1's keys took several queries
    assert all(p["key_prefixes"] == sorted({k[:8] for k in p["keys"]}) for _, p in asked)


def test_the_planner_check_asks_one_key_range_per_page():
    asked = []

    def select(sql_file, parameters):
        asked.append(parameters)
        return [{"source_key": "logs/a", "source_etag": '"1"'}, {"source_key": "logs/ab", "source_etag": '"2"'}]

    etags = catalog.CatalogIndex(select, "db.t").newest_etags("src", ["logs/b", "logs/a", "logs/c"])
    assert etags == {"logs/a": '"1"'}  # a key in the range that the page does not hold is not its business
    assert asked == [{"bucket": "src", "first_key": "logs/a", "last_key": "logs/c",
                      "first_prefix": "logs/a", "last_prefix": "logs/c"}]


def test_the_cost_model_prices_both_index_modes_as_the_issue_measured():
    files = 10**9
    dynamodb = cost.estimate("DEEP_ARCHIVE", files, files * 100 * 1024, files // 50_000, 64 << 20)
    in_catalog = cost.estimate("DEEP_ARCHIVE", files, files * 100 * 1024, files // 50_000, 64 << 20, "catalog")
    assert round(dynamodb["monthly_after_usd"]) == 237 and round(dynamodb["index_monthly_dynamodb_usd"]) == 140
    assert in_catalog["index_monthly_catalog_usd"] < 3
    assert round(dynamodb["monthly_after_usd"] - in_catalog["monthly_after_usd"], 2) == round(
        dynamodb["index_monthly_dynamodb_usd"] - dynamodb["index_monthly_catalog_usd"], 2)
    assert cost.athena_query_usd(1) == cost.athena_query_usd(10 * 1000**2) == pytest.approx(0.00005)
    assert cost.LOOKUP_USD["dynamodb"] < cost.LOOKUP_USD["catalog"]


def test_the_approval_summary_shows_both_modes_and_the_cost_of_a_look_up():
    document = {"plan_id": "p", "requests": [], "index_mode": "catalog",
                "totals": {"files": 1, "bytes": 1, "bundles": 1, "units": 1, "indexed": 0, "unreadable_class": 0},
                "cost": cost.estimate("DEEP_ARCHIVE", 10**6, 10**11, 20, 64 << 20, "catalog")}
    text = planner.summary(document)
    assert "index mode `catalog`" in text
    assert "`dynamodb` (DynamoDB items): $0.14/month" in text and "per file look-up" in text


def test_an_unknown_index_mode_is_refused_naming_the_variable(monkeypatch):
    from archiveflow.hooks.archive_catalog import INDEX_MODE_VARIABLE, index_mode

    monkeypatch.setenv(f"AIRFLOW_VAR_{INDEX_MODE_VARIABLE.upper()}", "athena")
    with pytest.raises(BadRequest) as refused:
        index_mode()
    assert refused.value.field == f"Variable {INDEX_MODE_VARIABLE}"
    monkeypatch.setenv(f"AIRFLOW_VAR_{INDEX_MODE_VARIABLE.upper()}", "catalog")
    assert index_mode() == "catalog"


def test_on_athena_a_look_up_runs_in_the_archive_database_and_records_the_bytes_scanned(monkeypatch):
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    from archiveflow.hooks.archive_catalog import ArchiveCatalogHook

    submitted = []

    def run_query(self, query, query_context, result_configuration, client_request_token=None, workgroup="primary"):
        submitted.append((query, query_context, workgroup))
        return "query-1"

    class Client:
        def get_query_execution(self, QueryExecutionId):  # noqa: N803 (boto3's spelling)
            return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": 123}}}

    columns = [{"Name": "source_bucket", "Type": "varchar"}, {"Name": "source_key", "Type": "varchar"},
               {"Name": "size", "Type": "bigint"}, {"Name": "member_name", "Type": "varchar"}]
    pages = [{"ResultSet": {"ResultSetMetadata": {"ColumnInfo": columns}, "Rows": [
        {"Data": [{"VarCharValue": c["Name"]} for c in columns]},
        {"Data": [{"VarCharValue": "src"}, {"VarCharValue": "a/b.csv"}, {"VarCharValue": "42"}, {}]}]}}]
    monkeypatch.setattr(AthenaHook, "run_query", run_query)
    monkeypatch.setattr(AthenaHook, "poll_query_status", lambda self, query_id, sleep_time=None: "SUCCEEDED")
    monkeypatch.setattr(AthenaHook, "get_conn", lambda self: Client())
    monkeypatch.setattr(AthenaHook, "get_query_results_paginator", lambda self, query_id: pages)
    monkeypatch.setattr(ArchiveCatalogHook, "extra", property(lambda self: {"engine": "athena"}))

    hook = ArchiveCatalogHook()
    found = hook.index().files(["src/a/b.csv"], with_versions=False)
    assert found == {"src/a/b.csv": [{"source_bucket": "src", "source_key": "a/b.csv", "size": 42,
                                      "member_name": None}]}
    ((query, context, workgroup),) = submitted
    assert context == {"Database": "archiveflow_archive"} and workgroup == "archiveflow-lakehouse"
    assert "FROM archive_catalog" in query and "source_key IN ('a/b.csv')" in query
    assert hook.usage() == {"index_mode": "catalog", "engine": "athena", "queries": 1, "bytes_scanned": 123,
                            "usd": round(cost.athena_query_usd(123), 6)}


def test_a_look_up_before_the_catalog_table_exists_finds_nothing_archived(monkeypatch):
    """A restore reads without creating the table (no pyiceberg on its path): where no plan has made it
    yet, nothing is archived in the catalog mode; where it exists, a failing query still fails."""
    from types import SimpleNamespace

    from archiveflow.hooks.archive_catalog import ArchiveCatalogHook
    from archiveflow.lakehouse.statements import UnsupportedStatement

    tables: dict[str, dict] = {}

    class Glue:
        exceptions = SimpleNamespace(EntityNotFoundException=KeyError)

        def get_table(self, DatabaseName, Name):  # noqa: N803 (boto3's spelling)
            return {"Table": tables[f"{DatabaseName}.{Name}"]}

    def no_table(tree):
        raise UnsupportedStatement("table archiveflow_archive.archive_catalog does not exist")

    monkeypatch.setattr(ArchiveCatalogHook, "extra", property(lambda self: {"engine": "duckdb"}))
    hook = ArchiveCatalogHook()
    hook.__dict__["_iceberg"] = SimpleNamespace(get_conn=Glue)
    monkeypatch.setattr(hook, "_duckdb", no_table)
    assert hook.index().files(["src/a/b.csv"], with_versions=False) == {}
    tables["archiveflow_archive.archive_catalog"] = {}
    with pytest.raises(UnsupportedStatement, match="does not exist"):
        hook.index().files(["src/a/b.csv"], with_versions=False)


def test_the_approval_step_says_what_the_already_archived_check_cost():
    assert "read DynamoDB items" in planner.index_usage_summary({"index_mode": "dynamodb"})
    line = planner.index_usage_summary({"index_mode": "catalog", "engine": "athena", "queries": 1200,
                                        "bytes_scanned": 3 * 2**20, "usd": 0.06})
    assert line == '- the "already archived?" check ran 1,200 catalog queries on athena (3.0 MiB scanned, $0.0600)'

"""Acceptance of the rdbms_archival DAG on the local stack (dag.test): the seed's payload, purge
with its safeguards, and bad input refused before any read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid

import psycopg
import pytest
from airflow.utils.state import DagRunState
from psycopg import sql
from pypdf import PdfReader

from archiveflow import resources
from archiveflow.rdbms_archival.metadata import RUN_SK, run_pk
from archiveflow.rdbms_archival.report import report_key
from devstack import postgres
from devstack.seed_rdbms_demo import DEMO_CONF, SCHEMA, seed

pytestmark = pytest.mark.integration

SEED_PAYLOAD = DEMO_CONF  # the seed's sample payload, on the stack's postgres_default


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), "../../../dags/rdbms_archival.py"))
    assert bag.import_errors == {}
    return bag.dags["rdbms_archival"]


@pytest.fixture
def demo(local_stack, airflow_db, catalog):
    """The demo schema seeded, and never archived yet: another module on this stack (the e2e run of
    the same payload) may have archived it, and these tests assert a first archive."""
    for identifier in catalog.list_tables(resources.glue_database("archive")):
        if f"__{SCHEMA}__" in identifier[-1]:
            catalog.drop_table(identifier)
    seed(local_stack.pg_dsn)
    with psycopg.connect(local_stack.pg_dsn, autocommit=True) as conn:
        yield conn
    seed(local_stack.pg_dsn)  # put purged rows back for the next test


def count(conn, table: str, where: str = "TRUE") -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE " + where).format(sql.Identifier(SCHEMA, table))).fetchone()[0]


def run_items(local_stack, run_id: str) -> dict[str, dict]:
    table = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    return {i["sk"]: i for i in table.query(KeyConditionExpression="pk = :pk",
                                            ExpressionAttributeValues={":pk": run_pk(run_id)})["Items"]}


def states(run) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for ti in sorted(run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        result.setdefault(ti.task_id, []).append(ti.state)
    return result


def test_seed_payload_archives_validates_and_reports(dag, demo, local_stack, catalog, notifications):
    run = dag.test(run_conf=SEED_PAYLOAD)
    assert run.state == DagRunState.SUCCESS, states(run)
    assert [m for m in notifications() if run.run_id in m and "succeeded" in m]
    assert sorted(ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "purge_table") == [
        f"{SCHEMA}.{name}" for name in ("customers", "leads", "products")]

    items = run_items(local_stack, run.run_id)
    assert items[RUN_SK]["status"] == "succeeded" and items[RUN_SK]["request"]["triggered_by"] == "Gokul"
    expected = {"products": 19, "leads": 49, "customers": 100}
    for name, rows in expected.items():
        item = items[f"table#{SCHEMA}.{name}"]
        assert item["rows_archived"] == rows == item["source"]["row_count"]
        assert item["validation"]["passed"] and item["purge"] == {"status": "skipped", "reason": "purge not requested"}
        snapshot = catalog.load_table(item["iceberg_table"]).snapshot_by_id(int(item["snapshot_id"]))
        assert snapshot.summary["added-records"] == str(rows)
    assert count(demo, "products") == 100  # no purge asked: the source is untouched

    pdf = local_stack.client("s3").get_object(Bucket=resources.bucket("reports"), Key=report_key(run.run_id))["Body"].read()
    assert items[RUN_SK]["report_sha256"] == hashlib.sha256(pdf).hexdigest()
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Gokul" in text and "succeeded" in text and "Index < 20" in text
    for name, rows in expected.items():
        assert f"Table {SCHEMA}.{name}" in text
        assert f"Rows archived {rows}" in text.replace("\n", " ")


def test_purge_removes_exactly_the_archived_rows(dag, demo, local_stack):
    conf = {**SEED_PAYLOAD, "purge": True, "batch_size": 1000,
            "source_table": [{"table_name": "products", "condition": "Index < 20"}, {"table_name": "leads",
                              "query": f'SELECT * FROM {SCHEMA}.leads WHERE "Deal Stage" = \'Proposal\''}]}
    proposals = count(demo, "leads", "\"Deal Stage\" = 'Proposal'")
    run = dag.test(run_conf=conf)
    assert run.state == DagRunState.SUCCESS, states(run)
    assert count(demo, "products") == 81 and count(demo, "products", '"Index" < 20') == 0
    assert count(demo, "leads") == 100 - proposals and count(demo, "leads", "\"Deal Stage\" = 'Proposal'") == 0
    purge = run_items(local_stack, run.run_id)[f"table#{SCHEMA}.products"]["purge"]
    assert purge["deleted"] == 19 and purge["not_in_source"] == 0 and purge["kept_changed"] == 0


@pytest.mark.parametrize(("flags", "expected"), [
    ({"legal_hold": True}, {"status": "skipped", "reason": "legal hold on the archive (set by run {run_id}): rows are kept"}),
    ({"dry_run": True}, {"status": "dry_run", "would_delete": 19, "archived_keys": 19, "not_in_source": 0,
                         "kept_changed": 0}),
])
def test_legal_hold_and_dry_run_delete_nothing(dag, demo, local_stack, flags, expected):
    conf = {**SEED_PAYLOAD, "purge": True, **flags, "source_table": [{"table_name": "products", "condition": "Index < 20"}]}
    run = dag.test(run_conf=conf)
    assert run.state == DagRunState.SUCCESS, states(run)
    assert count(demo, "products") == 100
    purge = run_items(local_stack, run.run_id)[f"table#{SCHEMA}.products"]["purge"]
    assert {k: v for k, v in purge.items() if k != "seconds"} == {
        k: v.format(run_id=run.run_id) if isinstance(v, str) else v for k, v in expected.items()}


def scans(conn, table: str) -> int:
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                        "WHERE schemaname = %s AND relname = %s", (SCHEMA, table)).fetchone()[0]


def test_hostile_condition_fails_at_once_naming_the_field_and_reads_nothing(dag, demo, local_stack, catalog):
    before = scans(demo, "leads")
    conf = {**SEED_PAYLOAD, "purge": True, "source_table": [
        {"table_name": "products"}, {"table_name": "leads", "condition": "Index < 50 OR pg_sleep(5) IS NULL"}]}
    run = dag.test(run_conf=conf)
    assert run.state == DagRunState.FAILED
    validate = next(ti for ti in run.get_task_instances() if ti.task_id == "validate_request")
    assert validate.state == "failed" and validate.try_number == 1  # no retries for bad input
    assert scans(demo, "leads") == before and count(demo, "leads") == 100
    items = run_items(local_stack, run.run_id)
    assert items[RUN_SK]["status"] == "failed"
    assert "source_table[1].condition" in items["failure#validate_request#-1"]["reason"]
    assert "pg_sleep" in items["failure#validate_request#-1"]["reason"]
    assert not [k for k in items if k.startswith("table#")]


def test_a_value_iceberg_cannot_store_fails_the_archive_on_its_first_try(dag, demo, local_stack):
    table = sql.Identifier(SCHEMA, "bad_prices")
    demo.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, price numeric(10, 2))").format(table))
    try:
        demo.execute(sql.SQL("INSERT INTO {} VALUES (1, 9.99), (2, 'NaN')").format(table))
        run = dag.test(run_conf={**SEED_PAYLOAD, "source_table": [{"table_name": "bad_prices"}]})
    finally:
        demo.execute(sql.SQL("DROP TABLE {}").format(table))
    assert run.state == DagRunState.FAILED
    archive = next(ti for ti in run.get_task_instances() if ti.task_id == "archive_table")
    assert archive.state == "failed" and archive.try_number == 1  # a data error is not retried
    items = run_items(local_stack, run.run_id)
    reason = items["failure#archive_table#0"]["reason"]
    assert f"{SCHEMA}.bad_prices: column 'price' holds 1 NaN value" in reason
    assert items[RUN_SK]["status"] == "failed"


# A source connection with a password and its own search_path: the run succeeds with search_path
# pinned, the report says ours won, and the password shows in no log, record, report or notification.
def test_password_never_shows_and_the_report_says_search_path_was_pinned(
        dag, demo, local_stack, notifications, monkeypatch, caplog, capfd):
    password = f"pw-{uuid.uuid4().hex}"  # trust authentication: accepted and ignored
    monkeypatch.setenv("AIRFLOW_CONN_SOURCE_WITH_PASSWORD", json.dumps({
        "conn_type": "postgres", "host": postgres.PG_HOST, "port": postgres.PG_PORT, "login": postgres.PG_USER,
        "password": password, "schema": local_stack.config.source_database,
        "extra": {"options": "-c search_path=public", "application_name": "archiveflow-test"}}))
    conf = {**SEED_PAYLOAD, "glue_connection": "source_with_password",
            "source_table": [{"table_name": "products", "condition": "Index < 20 AND lower(\"Name\") <> 'x'"}]}
    run = dag.test(run_conf=conf)
    assert run.state == DagRunState.SUCCESS, states(run)

    items = run_items(local_stack, run.run_id)
    assert items[f"table#{SCHEMA}.products"]["rows_archived"] == 19
    pdf = local_stack.client("s3").get_object(Bucket=resources.bucket("reports"), Key=report_key(run.run_id))
    report = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf["Body"].read())).pages)
    assert "search_path pinned to pg_catalog, pg_temp" in report and "'public'; ours wins" in report
    messages = notifications()
    assert [m for m in messages if run.run_id in m]
    out, err = capfd.readouterr()
    for where, text in [("logs", caplog.text + out + err), ("run records", json.dumps(items, default=str)),
                        ("report", report), ("notifications", "\n".join(messages))]:
        assert password not in text, f"the password is in the {where}"

"""The archive is a history without duplicates (re-runs without purge add only changed rows, as
new versions tagged with the run), keeps what the source declared, and a legal hold sticks."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg import sql
from pyiceberg.schema import Schema
from pyiceberg.types import IntegerType, NestedField, StringType

from archiveflow import resources
from archiveflow.rdbms_archival.iceberg_sink import LEGAL_HOLD, RUN_COLUMN, VERSION_COLUMN
from archiveflow.rdbms_archival.purge import skip_reason
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_table

pytestmark = pytest.mark.integration


def newest_per_key(iceberg) -> dict[int, str]:
    rows = iceberg.scan().to_arrow().sort_by([(VERSION_COLUMN, "ascending")]).to_pylist()
    return {r["id"]: r["status"] for r in rows}  # later versions overwrite earlier ones


def test_reruns_without_purge_add_only_changed_rows_as_new_versions(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    table = sql.Identifier(schema, "tickets")
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, status text NOT NULL, note text)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'open', NULL FROM generate_series(1, 1000) g").format(table))
    tables = [{"table_name": "tickets"}]

    first = archive_and_validate("run-1", source_table=tables)
    second = archive_and_validate("run-2", source_table=tables)
    assert (first.result["rows_archived"], first.result["rows_skipped"]) == (1000, 0)
    assert (second.result["rows_archived"], second.result["rows_skipped"]) == (0, 1000)
    assert second.validated["passed"]

    conn.execute(sql.SQL("UPDATE {} SET status = 'closed' WHERE id <= 3").format(table))
    conn.execute(sql.SQL("UPDATE {} SET note = 'x' WHERE id = 4").format(table))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (1001, 'open', NULL)").format(table))
    third = archive_and_validate("run-3", source_table=tables)
    assert (third.result["rows_archived"], third.result["rows_skipped"]) == (5, 996)
    assert third.validated["passed"]

    archive = catalog.load_table(first.plan.iceberg_table)
    data = archive.scan().to_arrow()
    assert data.num_rows == 1005
    assert pc.count_distinct(data[RUN_COLUMN]).as_py() == 2  # run-2 added nothing
    assert newest_per_key(archive) == {**{i: "open" for i in range(1, 1002)}, 1: "closed", 2: "closed", 3: "closed"}

    # A row changed back to a value archived long ago is a new version again: the newest wins.
    conn.execute(sql.SQL("UPDATE {} SET status = 'open' WHERE id = 1").format(table))
    fourth = archive_and_validate("run-4", source_table=tables)
    assert fourth.result["rows_archived"] == 1 and newest_per_key(catalog.load_table(first.plan.iceberg_table))[1] == "open"

    schema_ = archive.schema()
    assert schema_.find_field("id").required and schema_.find_field("status").required
    assert not schema_.find_field("note").required
    assert sorted(schema_.identifier_field_names()) == sorted(["id", VERSION_COLUMN])


def test_two_runs_at_once_archive_each_row_version_once(pg, local_stack, catalog, archive_and_validate, monkeypatch):
    """run-a finds which rows are not archived yet and writes them; before it commits, run-b archives
    the same rows and commits first. run-a's commit is refused (the table changed since it looked)
    and its rows computed again from the new snapshot (all archived unchanged now), never re-applied
    by pyiceberg on run-b's snapshot (every row twice)."""
    import psycopg

    from archiveflow.rdbms_archival import archive

    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, status text)").format(sql.Identifier(schema, "orders")))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'open' FROM generate_series(1, 100) g").format(
        sql.Identifier(schema, "orders")))
    tables = [{"table_name": "orders"}]
    commit, commits = archive.commit_once, []

    def overtaken(table, data_files, run_id, *args):
        commits.append(run_id)
        if len(commits) == 1:  # run-b, on a connection of its own, archives and commits first
            with psycopg.connect(local_stack.pg_dsn, autocommit=True) as other:
                request = parse_request({"source_schema": schema, "source_table": tables})
                plan = plan_table(other, request, 0, resources.glue_database("archive"))
                archive.archive_table(other, local_stack.pg_dsn, catalog, plan, request, "run-b")
        return commit(table, data_files, run_id, *args)

    monkeypatch.setattr(archive, "commit_once", overtaken)
    run_a = archive_and_validate("run-a", source_table=tables)
    assert commits == ["run-a", "run-b", "run-a"]
    assert (run_a.result["rows_archived"], run_a.result["rows_skipped"]) == (0, 100)
    assert run_a.validated["passed"]
    data = catalog.load_table(run_a.plan.iceberg_table).scan().to_arrow()
    assert data.num_rows == 100 and pc.unique(data[RUN_COLUMN]).to_pylist() == ["run-b"]


def test_a_legal_hold_sticks_until_released_explicitly(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY)").format(sql.Identifier(schema, "cases")))
    conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 10)").format(sql.Identifier(schema, "cases")))
    tables = [{"table_name": "cases"}]

    held = archive_and_validate("run-hold", legal_hold=True, source_table=tables)
    assert held.result["legal_hold"] == {"held": True, "change": "set", "set_by": "run-hold"}
    later = archive_and_validate("run-later", purge=True, source_table=tables)
    assert later.result["legal_hold"] == {"held": True, "change": "kept", "set_by": "run-hold"}
    properties = catalog.load_table(held.plan.iceberg_table).properties
    assert properties[LEGAL_HOLD] == "true"
    assert skip_reason(properties, purge=True) == "legal hold on the archive (set by run run-hold): rows are kept"

    released = archive_and_validate("run-release", purge=True,
                                    release_legal_hold=True, source_table=tables)
    assert released.result["legal_hold"] == {"held": False, "change": "released", "released_by": "run-release",
                                             "set_by": "run-hold"}
    properties = catalog.load_table(held.plan.iceberg_table).properties
    assert properties[LEGAL_HOLD] == "false" and skip_reason(properties, purge=True) is None


def test_a_table_archived_before_keeps_its_schema_and_gains_the_version_columns(pg, local_stack, catalog,
                                                                                archive_and_validate):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, name text NOT NULL)")
                 .format(sql.Identifier(schema, "legacy")))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'n' || g FROM generate_series(1, 20) g")
                 .format(sql.Identifier(schema, "legacy")))
    request = parse_request({"source_schema": schema, "source_table": [{"table_name": "legacy"}]})
    plan = plan_table(conn, request, 0, resources.glue_database("archive"))
    # as the previous version created it: every field optional, no identifier fields, no version columns
    old = catalog.create_table(plan.iceberg_table, schema=Schema(
        NestedField(1, "id", IntegerType(), required=False), NestedField(2, "name", StringType(), required=False)))
    old.append(pa.table({"id": pa.array(range(1, 21), pa.int32()), "name": [f"n{i}" for i in range(1, 21)]}))

    first = archive_and_validate("run-new-1", source_table=[{"table_name": "legacy"}])
    second = archive_and_validate("run-new-2", source_table=[{"table_name": "legacy"}])
    assert (first.result["rows_archived"], second.result["rows_skipped"]) == (20, 20)
    table = catalog.load_table(plan.iceberg_table)
    assert table.scan().to_arrow().num_rows == 40  # the old rows stay; the versions are added once
    assert not table.schema().find_field("name").required and not table.schema().identifier_field_names()
    assert not table.schema().find_field(VERSION_COLUMN).required

"""A purge deletes only rows identical to their archived version, and never reaches rows outside
the archived table: writers changing rows between archive and purge, partial selections,
foreign keys that cascade, inheritance children, triggers."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.errors import BadRequest, SafetyRefusal
from archiveflow.rdbms_archival.purge import purge_rows
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_table

pytestmark = pytest.mark.integration


def ids(conn, table) -> list[int]:
    return conn.execute(sql.SQL("SELECT coalesce(array_agg(id ORDER BY id), ARRAY[]::int[]) FROM {}").format(table)).fetchone()[0]


def test_rows_a_writer_changes_between_archive_and_purge_are_kept_and_counted(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    table = sql.Identifier(schema, "accounts")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, balance numeric(10, 2), note text)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 100) g").format(table))
    run = archive_and_validate("run-writer", purge=True,
                               source_table=[{"table_name": "accounts", "condition": "id <= 50"}])
    assert run.result["rows_archived"] == 50

    # The writer takes the table lock first; the purge starts, waits for it, and runs only after
    # the writer committed: an update, a NULL where a value was, a delete + re-insert of the same key,
    # a sign flipped (a refund: PostgreSQL's own numeric hash ignores the sign).
    with psycopg.connect(local_stack.pg_dsn) as writer:
        writer.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
        writer.execute(sql.SQL("UPDATE {} SET balance = balance + 1 WHERE id = 10").format(table))
        writer.execute(sql.SQL("UPDATE {} SET note = NULL WHERE id = 20").format(table))
        writer.execute(sql.SQL("UPDATE {} SET balance = -balance WHERE id = 40").format(table))
        writer.execute(sql.SQL("DELETE FROM {} WHERE id = 30").format(table))
        writer.execute(sql.SQL("INSERT INTO {} VALUES (30, 45.00, 'n30 again')").format(table))
        outcome = {}

        def purge():
            with psycopg.connect(local_stack.pg_dsn, autocommit=True) as purger:
                outcome["result"] = purge_rows(purger, run.plan, run.iceberg, run.validated, 1000, dry_run=False)

        purging = threading.Thread(target=purge)
        purging.start()
        deadline = time.monotonic() + 60
        while not conn.execute("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND query LIKE '%%DELETE%%')").fetchone()[0]:
            assert time.monotonic() < deadline and purging.is_alive(), outcome
            time.sleep(0.05)
        writer.commit()
    purging.join(60)

    result = outcome["result"]
    assert (result["deleted"], result["kept_changed"]) == (46, 4), result
    assert ids(conn, table) == [10, 20, 30, 40, *range(51, 101)]
    assert conn.execute(sql.SQL("SELECT balance, note FROM {} WHERE id IN (10, 30) ORDER BY id").format(table)
                        ).fetchall() == [(16, "n10"), (45, "n30 again")]

    # A re-run of the purge (a cleared task) checks the source again: nothing more goes.
    again = purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=False)
    assert (again["deleted"], again["kept_changed"]) == (0, 4)
    assert len(ids(conn, table)) == 54


def test_a_purge_after_a_query_of_some_columns_is_refused_before_anything_is_read(pg):
    conn, schema = pg
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, name text, secret text)")
                 .format(sql.Identifier(schema, "people")))
    request = parse_request({"source_schema": schema, "purge": True, "source_table": [
        {"table_name": "people", "query": f"SELECT id, name FROM {schema}.people"}]})
    with pytest.raises(BadRequest, match=r"source_table\[0\]\.query.*'secret'"):
        plan_table(conn, request, 0, resources.glue_database("archive"))
    archive_only = parse_request({**request.as_conf(), "purge": False})
    assert plan_table(conn, archive_only, 0, resources.glue_database("archive")).columns


def make_orders(conn, schema):
    orders, lines, notes = (sql.Identifier(schema, n) for n in ("orders", "order_lines", "notes"))
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, closed boolean NOT NULL)").format(orders))
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, order_id integer "
                         "CONSTRAINT lines_order_fk REFERENCES {} ON DELETE CASCADE)").format(lines, orders))
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, order_id integer "
                         "CONSTRAINT notes_order_fk REFERENCES {} ON DELETE SET NULL)").format(notes, orders))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, g <= 10 FROM generate_series(1, 20) g").format(orders))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 1 + g % 20 FROM generate_series(1, 60) g").format(lines))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 1 + g % 20 FROM generate_series(1, 40) g").format(notes))
    return orders, lines, notes


def test_a_purge_that_would_cascade_is_refused_unless_opted_in_and_dry_run_counts_the_cascade(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    orders, lines, notes = make_orders(conn, schema)
    request = parse_request({"source_schema": schema, "purge": True,
                             "source_table": [{"table_name": "orders", "condition": "closed = TRUE"}]})
    with pytest.raises(SafetyRefusal) as refused:
        plan_table(conn, request, 0, resources.glue_database("archive"))
    for named in (f"{schema}.order_lines", "lines_order_fk", "ON DELETE CASCADE", f"{schema}.notes",
                  "notes_order_fk", "ON DELETE SET NULL", "allow_purge_cascade"):
        assert named in str(refused.value)

    run = archive_and_validate("run-cascade", purge=True,
                               allow_purge_cascade=True, source_table=[{"table_name": "orders", "condition": "closed = TRUE"}])
    dry = purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=True)
    assert dry["would_delete"] == 10
    assert dry["cascade"] == {f"{schema}.order_lines (lines_order_fk, ON DELETE CASCADE)": 30,
                              f"{schema}.notes (notes_order_fk, ON DELETE SET NULL)": 20}
    assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(lines)).fetchone()[0] == 60

    done = purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=False)
    assert done["deleted"] == 10 and ids(conn, orders) == list(range(11, 21))
    assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(lines)).fetchone()[0] == 30
    assert conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE order_id IS NULL").format(notes)).fetchone()[0] == 20


def test_inheritance_children_are_neither_archived_nor_purged_with_their_parent(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    parent, child = sql.Identifier(schema, "events"), sql.Identifier(schema, "events_2025")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, kind text)").format(parent))
    conn.execute(sql.SQL("CREATE TABLE {} (extra text) INHERITS ({})").format(child, parent))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'old' FROM generate_series(1, 30) g").format(parent))
    # the same keys in the child: the parent's primary key does not cover its children
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'old', 'x' FROM generate_series(1, 40) g").format(child))
    conn.execute(sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN OLD; END'")
                 .format(sql.Identifier(schema, "audit")))
    conn.execute(sql.SQL("CREATE TRIGGER audit_delete BEFORE DELETE ON {} FOR EACH ROW EXECUTE FUNCTION {}()")
                 .format(parent, sql.Identifier(schema, "audit")))

    run = archive_and_validate("run-inherit", purge=True,
                               source_table=[{"table_name": "events", "condition": "kind = 'old'"}])
    assert run.result["rows_archived"] == 30 and run.result["source"]["row_count"] == 30
    assert [t["name"] for t in run.plan.source.triggers] == ["audit_delete"]
    assert "BEFORE DELETE" in run.plan.source.triggers[0]["definition"]
    done = purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=False)
    assert done["deleted"] == 30
    assert ids(conn, sql.SQL("ONLY {}").format(parent)) == []
    assert ids(conn, child) == list(range(1, 41))


def test_a_partitioned_table_is_archived_and_purged_as_a_whole(pg, local_stack, catalog, archive_and_validate):
    conn, schema = pg
    parted = sql.Identifier(schema, "readings")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)")
                 .format(parted))
    for year in (2024, 2025):
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(schema, f"readings_{year}"), parted, f"{year}-01-01", f"{year + 1}-01-01"))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, date '2024-06-01' + g * 5 FROM generate_series(1, 100) g")
                 .format(parted))
    run = archive_and_validate("run-parted", purge=True,
                               source_table=[{"table_name": "readings", "condition": "id <= 80"}])
    assert run.result["rows_archived"] == 80
    assert purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=False)["deleted"] == 80
    assert ids(conn, parted) == list(range(81, 101))


def test_rows_another_table_still_references_stop_the_purge_without_retries(pg, local_stack, catalog,
                                                                             archive_and_validate):
    conn, schema = pg
    parents, children = sql.Identifier(schema, "parents"), sql.Identifier(schema, "children")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY)").format(parents))
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, parent_id integer REFERENCES {})")
                 .format(children, parents))  # NO ACTION: PostgreSQL refuses the delete itself
    conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 10)").format(parents))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 7)").format(children))
    run = archive_and_validate("run-restrict", purge=True, source_table=[{"table_name": "parents"}])
    with pytest.raises(SafetyRefusal, match="still referenced by another table"):
        purge_rows(conn, run.plan, run.iceberg, run.validated, 1000, dry_run=False)
    assert len(ids(conn, parents)) == 10

"""A corrupted archive (one value changed in the run's Parquet file on S3) fails validation with
the column named, purge refuses to delete anything, and the run's rows are withdrawn."""

from __future__ import annotations

import io

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.errors import SafetyRefusal
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.iceberg_sink import added_files
from archiveflow.rdbms_archival.purge import purge_rows
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_table
from archiveflow.rdbms_archival.validation import ValidationFailed, validate_snapshot, withdraw_run

pytestmark = pytest.mark.integration


def test_a_mismatch_fails_validation_and_blocks_purge(pg, local_stack, catalog):
    conn, schema = pg
    table = sql.Identifier(schema, "orders")
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, amount numeric(10, 2), note text)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 500) g").format(table))
    request = parse_request({"source_schema": schema, "purge": True,
                             "source_table": [{"table_name": "orders", "condition": "id <= 300"}]})
    plan = plan_table(conn, request, 0, resources.glue_database("archive"))
    archived = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-corrupt")
    iceberg = catalog.load_table(plan.iceberg_table)
    assert validate_snapshot(iceberg, archived, plan.columns, 100)["passed"]

    (path,) = added_files(iceberg, archived["snapshot_id"])
    bucket, key = path.removeprefix("s3://").split("/", 1)
    s3 = local_stack.client("s3")
    data = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    notes = pc.if_else(pc.equal(data["id"], 7), "tampered", data["note"])
    buffer = io.BytesIO()
    pq.write_table(data.set_column(data.schema.get_field_index("note"), data.schema.field("note"), notes), buffer)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    with pytest.raises(ValidationFailed, match=r"checksums: columns differ: \['note'\]") as failure:
        validate_snapshot(iceberg, archived, plan.columns, 100)
    assert not failure.value.result["passed"]
    with pytest.raises(SafetyRefusal, match="validation did not pass"):
        purge_rows(conn, plan, iceberg, failure.value.result, 100, dry_run=False)
    assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] == 500

    # The failed run's rows leave the table's current state: the next run archives all 300 again
    # instead of skipping them as archived unchanged.
    withdraw_run(iceberg, "run-corrupt")
    assert catalog.load_table(plan.iceberg_table).scan().to_arrow().num_rows == 0
    again = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-after")
    assert (again["rows_archived"], again["rows_skipped"]) == (300, 0)

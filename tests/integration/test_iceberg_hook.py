"""The Iceberg hook's Glue catalog writes and reads a real table on the emulator's Glue + S3."""

import uuid

import pyarrow as pa
import pytest

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook

pytestmark = pytest.mark.integration


def test_catalog_round_trips_a_table_through_glue_and_s3(local_stack):
    catalog = IcebergCatalogHook().get_catalog()
    identifier = (resources.glue_database("archive"), f"hook_probe_{uuid.uuid4().hex[:8]}")
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]})
    table = catalog.create_table(identifier, schema=rows.schema)
    try:
        table.append(rows)
        assert catalog.load_table(identifier).scan().to_arrow().sort_by("id").to_pylist() == rows.to_pylist()
        glue_table = local_stack.client("glue").get_table(DatabaseName=identifier[0], Name=identifier[1])
        location = glue_table["Table"]["Parameters"]["metadata_location"]
        assert location.startswith(f"s3://{resources.bucket('warehouse')}/")
    finally:
        catalog.drop_table(identifier)

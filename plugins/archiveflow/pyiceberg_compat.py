"""pyiceberg's private helpers that archiveflow relies on, behind one door.

The Iceberg sink writes Parquet files itself (streamed, with its own dictionary choice) and
commits them through pyiceberg's public API; to write them exactly as pyiceberg would, it
projects batches and sets writer options with two private functions of `pyiceberg.io.pyarrow`.
Private means they may change in any release: `tests/unit/test_pyiceberg_compat.py` checks the
parameters used here against the installed pyiceberg and fails naming the function.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pyiceberg.io import pyarrow as pyiceberg_pyarrow
from pyiceberg.schema import Schema

# Private function name -> the parameters archiveflow passes to it.
USED = {
    "_to_requested_schema": ("requested_schema", "file_schema", "batch", "include_field_ids", "format_model"),
    "_get_parquet_writer_kwargs": ("table_properties",),
}


def project_batch(requested_schema: Schema, file_schema: Schema, batch: pa.RecordBatch, format_model: Any) -> (
        pa.RecordBatch):
    """`batch` (in `file_schema`) as pyiceberg writes it for `requested_schema`, with field ids."""
    return pyiceberg_pyarrow._to_requested_schema(requested_schema=requested_schema, file_schema=file_schema,
                                                  batch=batch, include_field_ids=True, format_model=format_model)


def parquet_writer_options(table_properties: dict[str, str]) -> dict[str, Any]:
    """The ParquetWriter options (codec, level, page sizes...) pyiceberg derives from table properties."""
    return pyiceberg_pyarrow._get_parquet_writer_kwargs(table_properties)

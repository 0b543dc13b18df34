"""The target side: Iceberg tables in the Glue catalog, one snapshot per table per run.

Idempotency: each append is one atomic commit tagged in its snapshot summary with the run id and
the source table. Before appending we look for that tag: a retry after a commit whose task died
before reporting finds the snapshot and reuses it (and the source figures recorded with it), a
retry after a crash before the commit finds nothing and appends. An attempt's data files are
named with a write id derived from the run and the source table (`run_write_id`), so that retry
first removes what a killed attempt left of its uncommitted write: the open multipart uploads
and the data files no snapshot references (`discard_uncommitted`); a failed attempt does the same
before it ends, and a successful one aborts the uploads a client retry opened twice
(`abort_open_uploads`; all three in lakehouse/iceberg_writes.py, shared with the local lakehouse engine). The warehouse bucket's abort-incomplete-multipart-upload rule
(resources.yaml) is the backstop for a run never retried.

History: a table is a history of row versions (see naming.py for the three columns archiveflow
adds). A run appends only rows whose key has no archived version yet or whose newest archived
version has another digest; rows archived unchanged are skipped and counted (their count and
checksums are recorded with the snapshot so validation still covers every selected row).

Schema: tables created from now on keep what the source declared: NOT NULL columns are required
fields, and the primary key plus `archiveflow_archived_at` are the identifier fields. Tables
created before keep their schema (every field optional, no identifier fields); the new columns
are added, as optional. A source column that drops NOT NULL later is made optional.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow.fs import S3FileSystem
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import NotNull
from pyiceberg.io import FileIO
from pyiceberg.io.fileformat import FileFormatFactory
from pyiceberg.io.pyarrow import (
    BUFFER_SIZE,
    ONE_MEGABYTE,
    PyArrowFileIO,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    pyarrow_to_schema,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema, sanitize_column_names
from pyiceberg.table import Table, TableProperties, WriteTask
from pyiceberg.table.locations import load_location_provider
from pyiceberg.typedef import Record
from pyiceberg.types import (
    DoubleType,
    FloatType,
    ListType,
    LongType,
    NestedField,
    PrimitiveType,
    StringType,
    TimestamptzType,
)

from archiveflow.pyiceberg_compat import parquet_writer_options, project_batch
from archiveflow.rdbms_archival.naming import ROW_DIGEST_COLUMN, RUN_COLUMN, VERSION_COLUMN, iceberg_name
from archiveflow.rdbms_archival.pgtypes import Column

log = logging.getLogger(__name__)
RUN_TAG = "archiveflow.run_id"
SOURCE_TAG = "archiveflow.source_table"
FIGURES_TAG = "archiveflow.source_figures"
SKIPPED_TAG = "archiveflow.skipped_figures"  # count and checksums of the rows skipped as archived unchanged
LEGAL_HOLD = "archiveflow.legal-hold"  # table properties: "true" | "false", and which runs set/released it
LEGAL_HOLD_SET_BY = "archiveflow.legal-hold-set-by"
LEGAL_HOLD_RELEASED_BY = "archiveflow.legal-hold-released-by"
_ARCHIVE_FIELDS = ((ROW_DIGEST_COLUMN, LongType(), "digest of the row's values in the source (row_digest.py)"),
                   (RUN_COLUMN, StringType(), "the Airflow run that archived this version"),
                   (VERSION_COLUMN, TimestamptzType(), "version: when the run's source snapshot was taken"))
_ADDED = 1  # manifest entry status
STREAM_FILES = 100_000  # file numbers per read stream: streams of one write never share a file name
READ_BACK_BYTES = 32 * 1024 * 1024  # data per batch when reading archived rows back (validation)
DICTIONARY_SAMPLE = 16_384  # rows that decide which columns get dictionary encoding


def iceberg_schema(columns: Sequence[Column], key: Sequence[str] = ()) -> Schema:
    """The source's columns (NOT NULL ones required), then archiveflow's; identifier fields: the
    key and the version, when every key column can be one (a required primitive, not a float)."""
    fields, next_id = [], len(columns) + len(_ARCHIVE_FIELDS) + 1
    for field_id, column in enumerate(columns, start=1):
        field_type = column.family.iceberg(column)
        if isinstance(field_type, ListType):
            field_type = ListType(next_id, field_type.element_type, element_required=False)
            next_id += 1
        fields.append(NestedField(field_id, iceberg_name(column.name), field_type, required=not column.nullable,
                                  doc=f"{column.name} ({column.declared_type})"))
    for field_id, (name, field_type, doc) in enumerate(_ARCHIVE_FIELDS, start=len(columns) + 1):
        fields.append(NestedField(field_id, name, field_type, required=True, doc=doc))
    by_name = {f.name: f for f in fields}
    identifier = [by_name.get(iceberg_name(k)) for k in key]
    if identifier and all(f is not None and f.required and isinstance(f.field_type, PrimitiveType)
                          and not isinstance(f.field_type, FloatType | DoubleType) for f in identifier):
        return Schema(*fields, identifier_field_ids=[f.field_id for f in identifier] + [by_name[VERSION_COLUMN].field_id])
    return Schema(*fields)


def ensure_table(catalog: Catalog, identifier: str, columns: Sequence[Column], key: Sequence[str] = ()) -> Table:
    """Load or create the table (see the module docstring for what the schema keeps)."""
    schema = iceberg_schema(columns, key)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        try:
            return catalog.create_table(identifier, schema=schema)
        except TableAlreadyExistsError:  # a concurrent run created it
            table = catalog.load_table(identifier)
    current = table.schema()
    missing = [f for f in schema.fields if f.name not in current.column_names]
    loosened = [f.name for f in schema.fields if not f.required and f.name in current.column_names
                and current.find_field(f.name).required]
    if missing or loosened:
        with table.update_schema() as update:
            for field in missing:  # optional: the table has rows without them
                update.add_column(field.name, field.field_type, doc=field.doc)
            if set(loosened) & set(current.identifier_field_names()):
                update.set_identifier_fields()  # a key column became nullable: it can no longer be one
            for name in loosened:
                update.make_column_optional(name)
    return table


def set_properties(table: Table, properties: dict[str, str]) -> None:
    if any(table.properties.get(k) != v for k, v in properties.items()):
        with table.transaction() as tx:
            tx.set_properties(properties)


def arrow_schema(table: Table, columns: Sequence[Column], extra: Sequence[str] = ()) -> pa.Schema:
    """The Arrow schema of `columns` (in that order), then the `extra` fields, as the table stores them."""
    full = table.schema().as_arrow()
    return pa.schema([full.field(name).remove_metadata() for name in [*(iceberg_name(c.name) for c in columns), *extra]])


@dataclass(frozen=True)
class RunSnapshot:
    snapshot_id: int
    rows: int
    source_figures: dict
    skipped_figures: dict  # the selected rows not appended because archived unchanged
    appended: bool  # False: an earlier attempt of this run had already committed it


def find_run_snapshot(table: Table, run_id: str, source: str) -> RunSnapshot | None:
    for snapshot in table.snapshots():
        summary = snapshot.summary
        if summary is not None and summary.get(RUN_TAG) == run_id and summary.get(SOURCE_TAG) == source:
            return RunSnapshot(snapshot.snapshot_id, int(summary.get("added-records") or 0),
                               json.loads(summary[FIGURES_TAG]),
                               json.loads(summary.get(SKIPPED_TAG, '{"row_count": 0, "columns": {}}')), appended=False)
    return None


def latest_versions(table: Table, key: Sequence[str]) -> pa.Table:
    """The newest archived version of each key: its key columns and row digest (empty when the
    table has no versioned rows). Reads only those columns."""
    names = [*map(iceberg_name, key), ROW_DIGEST_COLUMN, VERSION_COLUMN]
    columns = table.schema().column_names
    if not key or table.current_snapshot() is None or any(n not in columns for n in names):
        return pa.table({n: pa.array([], pa.int64()) for n in names[:-1]})
    rows = table.scan(row_filter=NotNull(ROW_DIGEST_COLUMN), selected_fields=tuple(names)).to_arrow()
    newest_first = rows.sort_by([(VERSION_COLUMN, "descending")])
    latest = newest_first.group_by(names[:-2], use_threads=False).aggregate([(ROW_DIGEST_COLUMN, "first")])
    return latest.rename_columns(names[:-1])


def write_data_files(table: Table, rows: pa.RecordBatchReader, file_bytes: int, row_group_bytes: int,
                     write_id: uuid.UUID, stream: int = 0) -> list[DataFile]:
    """Write `rows` as Parquet data files of about `file_bytes` of Arrow data each, in row groups
    of about `row_group_bytes`; commits nothing.

    Streams: a writer thread compresses and uploads one row group while the next is read, so at
    most two row groups are in memory whatever the table's size, and when the last rows arrive
    only one row group is left to write. Files are written the way pyiceberg's own append writes
    them (`write_file` in the pinned 0.12: same schema projection with field ids, writer, file
    names and statistics); calling it apart lets the commit wait for the source checksums,
    computed while the rows stream. `write_id` names the files (see `run_write_id`), `stream` the
    reader of the table they come from (its files are numbered from stream * STREAM_FILES). On a
    failure the files written so far stay: the caller discards the whole write (every stream's)."""
    write_uuid, files = write_id, []
    task_schema = pyarrow_to_schema(rows.schema, name_mapping=table.metadata.schema().name_mapping,
                                    format_version=table.metadata.format_version)
    current: _DataFileWriter | None = None

    def write(batches: list[pa.RecordBatch]) -> None:
        nonlocal current
        if current is None:
            current = _DataFileWriter(table, task_schema, write_uuid, stream * STREAM_FILES + len(files))
        current.write(batches)
        if current.arrow_bytes >= file_bytes:
            files.append(current.close())
            current = None

    try:
        with ThreadPoolExecutor(1) as writer:
            pending = None
            for group in _chunks(rows, row_group_bytes):
                if pending is not None:
                    pending.result()
                pending = writer.submit(write, group)
            if pending is not None:
                pending.result()
        if current is not None:
            files.append(current.close())
    except BaseException:
        # A process holding an unclosed S3 upload stream hangs at exit (pyarrow 26, which cannot
        # abort one): close it; the caller discards the write's files (discard_uncommitted).
        if current is not None and current.writer is not None:
            try:
                with current.stream:
                    current.writer.close()
            except (OSError, pa.ArrowException) as e:
                log.warning("%s: could not close %s after the failure (%s)", table.name(), current.path, e)
        raise
    return files


class _DataFileWriter:
    """One Parquet data file written a row group at a time: pyiceberg's write_file streamed, with
    the table's writer properties (codec zstd, level 1 by default), except that dictionary
    encoding is kept only for low-cardinality columns (see `_dictionary_columns`)."""

    def __init__(self, table: Table, task_schema: Schema, write_uuid: uuid.UUID, task_id: int):
        metadata = table.metadata
        self.properties = metadata.properties
        self.file_format = FileFormat(self.properties.get(TableProperties.WRITE_FILE_FORMAT,
                                                          TableProperties.WRITE_FILE_FORMAT_DEFAULT))
        if self.file_format != FileFormat.PARQUET:
            raise ValueError(f"{table.name()}: write format {self.file_format} is not supported (Parquet only)")
        self.format_model = FileFormatFactory.get(self.file_format)
        self.file_schema = sanitize_column_names(metadata.schema())
        self.task_schema, self.spec_id = task_schema, metadata.default_spec_id
        task = WriteTask(write_uuid=write_uuid, task_id=task_id, record_batches=[], schema=task_schema)
        self.path = load_location_provider(metadata.location, self.properties).new_data_location(
            data_file_name=task.generate_data_file_filename(self.format_model.file_extension()))
        self.io = table.io
        self.stream = None
        self.writer: pq.ParquetWriter | None = None
        self.arrow_bytes = 0

    def write(self, batches: list[pa.RecordBatch]) -> None:
        projected = pa.Table.from_batches(
            [project_batch(self.file_schema, self.task_schema, b, self.format_model) for b in batches])
        if self.writer is None:
            self.stream = _upload_stream(self.io, self.path)
            self.writer = pq.ParquetWriter(self.stream, schema=projected.schema, store_decimal_as_integer=True,
                                           use_dictionary=_dictionary_columns(projected),
                                           **parquet_writer_options(self.properties))
        self.writer.write_table(projected, row_group_size=projected.num_rows)  # one row group per call
        self.arrow_bytes += sum(b.nbytes for b in batches)

    def close(self) -> DataFile:
        with self.stream:
            self.writer.close()
            size = self.stream.tell()
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=self.writer.writer.metadata,
            stats_columns=compute_statistics_plan(self.file_schema, self.properties),
            parquet_column_mapping=parquet_path_to_id_mapping(self.file_schema))
        return DataFile.from_args(content=DataFileContent.DATA, file_path=self.path, file_format=self.file_format,
                                  partition=Record(), file_size_in_bytes=size, sort_order_id=None,
                                  spec_id=self.spec_id, equality_ids=None, key_metadata=None,
                                  **statistics.to_serialized_dict())


def _upload_stream(io: FileIO, path: str):
    """A new file's output stream, each S3 part uploaded by the writing thread. pyarrow's S3
    default, background writes, queues a file's parts in memory until they are uploaded: up to
    the whole file when the upload is the slower (a 64 MB file: +76 MB RSS on the emulator,
    +8 MB without). Same file system otherwise (the pickled options of the table's own)."""
    if not isinstance(io, PyArrowFileIO):
        return io.new_output(path).create(overwrite=True)
    scheme, netloc, fs_path = io.parse_location(path, io.properties)
    filesystem = io.fs_by_scheme(scheme, netloc)
    if isinstance(filesystem, S3FileSystem):
        rebuild, (options,) = filesystem.__reduce__()
        filesystem = rebuild({**options, "background_writes": False})
    return filesystem.open_output_stream(fs_path, buffer_size=int(io.properties.get(BUFFER_SIZE, ONE_MEGABYTE)))


def _dictionary_columns(first: pa.Table) -> list[str]:
    """Flat columns with at most 1 distinct value in 10 among the file's first DICTIONARY_SAMPLE rows.

    Parquet's dictionary encoding pays off there; on near-unique columns (keys, timestamps,
    names) Arrow builds the dictionary, overflows its page limit and falls back to plain, which
    measured 2-3x the CPU of the whole write and files ~30% larger (1M mixed rows in 64k-row
    groups, zstd 1: 1.21 s / 40.8 MB with every column, 0.63 s / 27.2 MB chosen this way). A sample
    decides: counting distinct values of a whole first row group took ~0.5 s per 1M rows."""
    chosen = []
    sample = first.slice(0, DICTIONARY_SAMPLE)
    for field, column in zip(sample.schema, sample.columns, strict=True):
        values = len(column) - column.null_count
        if not pa.types.is_nested(field.type) and values and pc.count_distinct(column).as_py() * 10 <= values:
            chosen.append(field.name)
    return chosen


def _chunks(rows: pa.RecordBatchReader, chunk_bytes: int) -> Iterator[list[pa.RecordBatch]]:
    chunk, size = [], 0
    for batch in rows:
        chunk.append(batch)
        size += batch.nbytes
        if size >= chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def commit_once(table: Table, data_files: list[DataFile], run_id: str, source: str, source_figures: dict,
                skipped_figures: dict) -> RunSnapshot:
    """Commit the files as one snapshot tagged with the run, unless that snapshot exists already
    (a run that appends no row still commits its tagged snapshot, with the figures)."""
    done = find_run_snapshot(table, run_id, source)
    if done is not None:
        return done
    tags = {RUN_TAG: run_id, SOURCE_TAG: source, FIGURES_TAG: json.dumps(source_figures, sort_keys=True),
            SKIPPED_TAG: json.dumps(skipped_figures, sort_keys=True)}
    with table.transaction() as tx, tx.update_snapshot(snapshot_properties=tags).fast_append() as append:
        for data_file in data_files:
            append.append_data_file(data_file)
    committed = find_run_snapshot(table, run_id, source)  # the commit updated table.metadata
    return RunSnapshot(committed.snapshot_id, committed.rows, committed.source_figures, committed.skipped_figures,
                       appended=True)


def added_files(table: Table, snapshot_id: int) -> list[str]:
    """The data files this snapshot added (not the whole table as of it)."""
    entries = table.inspect.entries(snapshot_id=snapshot_id).to_pylist()
    return [e["data_file"]["file_path"] for e in entries
            if e["status"] == _ADDED and e["snapshot_id"] == snapshot_id and e["data_file"]["content"] == 0]


def snapshot_batches(table: Table, snapshot_id: int, names: Sequence[str], batch_size: int,
                     batch_bytes: int = READ_BACK_BYTES) -> Iterator[pa.RecordBatch]:
    """Stream the rows this snapshot added, `names` columns only, one bounded batch at a time: at
    most `batch_size` rows and, by the file's mean row width, about `batch_bytes` of data."""
    for path in added_files(table, snapshot_id):
        with table.io.new_input(path).open() as stream:
            parquet = pq.ParquetFile(stream)
            wanted = set(names)
            data = sum(group.column(i).total_uncompressed_size
                       for group in map(parquet.metadata.row_group, range(parquet.metadata.num_row_groups))
                       for i in range(group.num_columns) if group.column(i).path_in_schema.split(".")[0] in wanted)
            rows = max(1, min(batch_size, batch_bytes * parquet.metadata.num_rows // max(data, 1)))
            yield from parquet.iter_batches(batch_size=rows, columns=list(names))

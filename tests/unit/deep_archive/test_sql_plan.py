"""The SQL plan's statements on DuckDB (the local engine's dialect), without services: what is skipped and
why, the bundles (the Python rule's), the manifests the engine writes, and the Athena text of the same files."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from archiveflow.deep_archive import bundling, inventory, sql_plan
from archiveflow.deep_archive.request import parse_request
from archiveflow.lakehouse.statements import Unload, athena_sql, duckdb_sql, load_statement, render

MODIFIED = datetime(2026, 1, 1)
REPORT = inventory.Manifest("s3://reports/manifest.json", "Parquet", ("bucket", "key", "size", "last_modified_date",
                                                                 "e_tag", "storage_class"), "r", ("f",))


def _request(prefix: str = "p/", **extra):
    return parse_request({"project_name": "p", "bucket_name": "src", "prefix": prefix, "file_count": 3,
                          "archive_size": 1, "inventory_manifest": "s3://reports/manifest.json", **extra}, "arch")


def _engine(objects: list[dict], catalog: list[dict]):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    report = [{"bucket": "src", "storage_class": "STANDARD", "last_modified_date": MODIFIED, **o} for o in objects]
    con.register("report", pa.Table.from_pylist(report))
    con.execute("CREATE VIEW inv AS SELECT *, TRUE AS is_latest, FALSE AS is_delete_marker FROM report")  # as `inventory.relation` fills them
    rows = [{"source_bucket": "src", "key_prefix": c["source_key"][:8], "version": f"{c.get('at', '1')}#x", **c}
            for c in catalog]
    schema = pa.schema([("source_bucket", pa.string()), ("key_prefix", pa.string()), ("source_key", pa.string()),
                        ("source_etag", pa.string()), ("size", pa.int64()), ("version", pa.string()),
                        ("at", pa.string())])
    con.register("catalog_rows", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE VIEW archive_catalog AS SELECT * FROM catalog_rows")
    return con


def _units(con, request, elsewhere=()) -> list[dict]:
    cursor = con.execute(duckdb_sql(load_statement(sql_plan.UNITS_SQL, sql_plan.parameters(request, REPORT, elsewhere),
                                                   {"inventory": "inv"})))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_objects_are_skipped_when_the_catalogs_newest_version_has_their_etag_and_size():
    objects = [{"key": "p/a", "size": 5, "e_tag": "aa"},           # archived, unchanged (the report's ETag unquoted)
               {"key": "p/b", "size": 5, "e_tag": "b2"},           # its newest archived version had another ETag
               {"key": "p/c", "size": 6, "e_tag": "cc"},           # same ETag, other size: not the same content
               {"key": "p/d", "size": 5, "e_tag": "dd", "storage_class": "GLACIER"},
               {"key": "p/e/", "size": 0, "e_tag": "ee"},          # a folder marker
               {"key": "p/x.y+/f", "size": 5, "e_tag": "ff"},      # another source's (regex characters in its prefix)
               {"key": "q/g", "size": 5, "e_tag": "gg"}]           # outside the prefix
    catalog = [{"source_key": "p/a", "source_etag": '"aa"', "size": 5},
               {"source_key": "p/b", "source_etag": '"b2"', "size": 5, "at": "1"},
               {"source_key": "p/b", "source_etag": '"b1"', "size": 5, "at": "2"},  # the newest: b1
               {"source_key": "p/c", "source_etag": '"cc"', "size": 5}]
    units = _units(_engine(objects, catalog), _request(), elsewhere=("p/x.y+/",))
    skipped = {u["skipped"]: u["files"] for u in units if u["skipped"]}
    assert skipped == {"indexed": 1, "unreadable_class": 1}
    (bundle,) = [u for u in units if u["skipped"] is None]
    assert (bundle["alone"], bundle["files"], bundle["rewritten"], bundle["first_key"], bundle["last_key"],
            bundle["first_position"], bundle["last_position"]) == (False, 2, 2, "p/b", "p/c", 0, 1)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_engines_bundles_and_manifests_are_the_python_rules(tmp_path, seed):
    import random

    rng = random.Random(seed)
    request = _request()
    cap = request.archive_size * 1024 * 1024
    objects = [{"key": f"p/{n:05d}", "size": rng.choice([1, 1000, 100_000, cap // 8 + 1]), "e_tag": f"{n:x}"}
               for n in range(200)]
    con = _engine(objects, [])
    units = _units(con, request)
    python = [(kind, [r["key"] for r in rows])
              for kind, rows in bundling.bundles(objects, request.file_count, cap)]
    assert sorted((("object" if u["alone"] else "zip"), u["files"], u["first_key"]) for u in units) == sorted(
        (kind, len(keys), keys[0]) for kind, keys in python)

    per_group = 7  # positions per folder
    unload = load_statement(sql_plan.MANIFESTS_SQL, {**sql_plan.parameters(request, REPORT, (), str(tmp_path / "m")),
                                                     "rows_per_group": per_group}, {"inventory": "inv"})
    con.execute(duckdb_sql(unload))
    written: dict[int, str] = {}
    for folder in (tmp_path / "m").iterdir():
        group = int(folder.name.split("=")[1])
        for key, position in con.execute(f"SELECT key, position FROM read_parquet('{folder}/*.parquet')").fetchall():
            assert position // per_group == group
            written[position] = key
    manifests = [[written[p] for p in range(u["first_position"], u["last_position"] + 1)]
                 for u in units if u["alone"] is False]
    assert sorted(manifests) == sorted(keys for kind, keys in python if kind == "zip")


def test_an_unload_is_athenas_statement_and_duckdbs_copy():
    unload = load_statement(sql_plan.MANIFESTS_SQL, {**sql_plan.parameters(_request(), REPORT, (), "s3://b/_plans/x/"),
                                                     "rows_per_group": 2}, {"inventory": "inv"})
    assert isinstance(unload, Unload)
    athena = athena_sql(unload)
    assert athena.startswith("UNLOAD (") and athena.endswith(
        "TO 's3://b/_plans/x/'\nWITH (format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY['position_group'])")
    copy = duckdb_sql(unload)
    assert copy.startswith("COPY (") and copy.endswith(
        "TO 's3://b/_plans/x/' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (position_group))")


def test_keys_under_other_sources_prefixes_are_matched_literally():
    pattern = sql_plan.elsewhere_pattern(("a.b/", r"c\E(/"))
    con = duckdb.connect()
    keys = ["a.b/1", "axb/2", r"c\E(/3", "c/4"]
    matched = [k for k in keys if con.execute("SELECT regexp_matches(?, ?)", [k, pattern]).fetchone()[0]]
    assert matched == ["a.b/1", r"c\E(/3"]
    assert sql_plan.elsewhere_pattern(()) == ""


@pytest.mark.parametrize(("file_format", "serde"), [("CSV", "OpenCSVSerde"), ("Parquet", "ParquetHiveSerDe"),
                                                    ("ORC", "OrcSerde")])
def test_athena_reads_a_report_as_an_external_table_over_a_symlink(file_format, serde):
    manifest = inventory.Manifest("s3://r/m.json", file_format, ("bucket", "key", "size", "last_modified_date", "e_tag"),
                                  "r", ("f",))
    text = render("deep_archive/inventory_table.sql", {"table": "inv_1", "format": file_format, "location": "s3://x/y/",
                                                       "columns": inventory.athena_columns(manifest)})
    assert f".{serde}'" in text and "SymlinkTextInputFormat" in text and "LOCATION 's3://x/y/'" in text
    # The optional columns the report lacks are declared (null), after the report's own.
    assert text.index("`e_tag`") < text.index("`is_latest`") < text.index("`is_delete_marker`")
    assert ("`size` string" if file_format == "CSV" else "`size` bigint") in text



def test_the_worker_reads_its_bundles_rows_from_the_row_groups_that_overlap_its_positions(tmp_path):
    import hashlib
    import io

    import pyarrow.parquet as pq

    from archiveflow.deep_archive.s3io import get_parquet_rows

    rows = [{"key": f"k{n:06d}", "etag": hashlib.md5(b"%d" % n).hexdigest(), "position": n}  # noqa: S324
            for n in range(20_000)]  # 20 row groups (more than the reader's first 64 KiB)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer, row_group_size=1000)
    body = buffer.getvalue()
    read = []

    class S3:
        def head_object(self, Bucket, Key):  # noqa: N803 - boto3's spelling
            return {"ContentLength": len(body)}

        def get_object(self, Bucket, Key, Range):  # noqa: N803
            start, end = map(int, Range.removeprefix("bytes=").split("-"))
            read.append(end + 1 - start)
            return {"Body": io.BytesIO(body[start:end + 1])}

    assert get_parquet_rows(S3(), "b", "k", "position", 7100, 7900) == rows[7100:7901]
    assert sum(read) < len(body) / 4  # the footer and one row group of twenty
    assert get_parquet_rows(S3(), "b", "k", "position", 30_000, 30_010) == []

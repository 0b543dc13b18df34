"""A source with an S3 Inventory report, on the local stack: the bucket is never listed, exactly the
report's objects not yet archived are packed, and one deleted since the report is reported, not fatal."""

from __future__ import annotations

import pytest

from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive import worker
from archiveflow.deep_archive.index import INDEX_SUFFIX
from archiveflow.deep_archive.request import parse_request
from archiveflow.deep_archive.s3io import get_jsonl
from devstack.inventory_report import objects_of_listing, upload_report, write_report

pytestmark = pytest.mark.integration


def _request(aws, prefix: str, inventory_manifest: str | None = None, archive_size: int = 100):
    project = prefix.rstrip("/")
    return parse_request({"project_name": project, "bucket_name": aws.source, "prefix": prefix, "file_count": 20,
                          "archive_size": archive_size, "output_prefix": f"tests/{project}",
                          "inventory_manifest": inventory_manifest}, aws.archive)


def _plan(aws, request):
    return planner.plan(aws.s3, aws.dynamodb, [request], plan_id=aws.unique(request.project_name),
                        plan_bucket=aws.archive, index_table=aws.index.name)


def _run(aws, document) -> list[list[dict]]:
    """Pack every unit; the index objects' rows (their header first) per unit."""
    for unit in document["units"]:
        worker.run_unit(aws.s3, aws.dynamodb, document, unit)
    return [get_jsonl(aws.s3, aws.archive, unit["archive_key"] + INDEX_SUFFIX) for unit in document["units"]]


def test_a_source_with_an_inventory_is_never_listed_and_packs_the_reports_new_objects(aws, tmp_path):
    """CSV, the format with URL-encoded keys (Parquet and ORC are read alike: tests/unit/deep_archive/test_inventory.py)."""
    prefix = aws.unique("inventory") + "/"
    archived = {f"{prefix}old/f{i:03d}.txt": b"old %d" % i for i in range(10)}
    aws.upload(archived)
    _run(aws, _plan(aws, _request(aws, prefix)))  # a first run by listing: these are archived

    new = {f"{prefix}new/f {i:03d}+.txt": b"new %d" % i for i in range(25)}  # space and '+': URL-encoded in CSV
    aws.upload(new)
    manifest, files = write_report(tmp_path, aws.source, aws.archive, objects_of_listing(aws.s3, aws.source, prefix),
                                   "CSV", rows_per_file=20)
    uri = upload_report(aws.s3, aws.archive, f"_inventory/{prefix}manifest.json", manifest, files)
    gone = sorted(new)[7]
    aws.s3.delete_object(Bucket=aws.source, Key=gone)  # after the report: missing when packing
    aws.upload({f"{prefix}new/later.txt": b"after the report"})  # waits for the next run

    listings = []
    aws.s3.meta.events.register("before-call.s3.ListObjectsV2", lambda params, **_: listings.append(params))
    try:
        request = _request(aws, prefix, uri)
        planner.check_access(request, aws.s3, account="123456789012", region="us-east-1", not_sources=set(),
                             archive_buckets={aws.archive}, not_archives=set())
        document = _plan(aws, request)
    finally:
        aws.s3.meta.events.unregister("before-call.s3.ListObjectsV2")
    assert listings == []
    assert document["totals"]["indexed"] == 10
    assert [unit["files"] for unit in document["units"]] == [20, 5]

    headers = [rows[0] for rows in _run(aws, document)]
    assert [header["missing"] for header in headers] == [[gone], []]
    packed = {}
    for unit in document["units"]:
        with aws.open_bundle(unit["archive_key"]) as archive:
            packed.update({name: archive.read(name) for name in archive.namelist()})
    assert packed == {key: body for key, body in new.items() if key != gone}
    indexed = {item["source_key"] for item in aws.index_items(prefix.rstrip("/"))}
    assert indexed == set(archived) | set(packed)


def test_in_the_catalog_mode_the_engine_plans_a_source_with_an_inventory_and_packs_what_is_not_archived(
        aws, catalog_index, tmp_path):
    """The SQL plan end to end: the report anti-joined with the archive catalog by the lakehouse_sql engine
    (DuckDB here), bundles by the shared rule, the manifests written to S3 by the engine, packed by the worker."""
    from archiveflow.deep_archive.catalog import CatalogIndex

    prefix = aws.unique("sqlplan") + "/"
    archived = {f"{prefix}old/f{i:03d}.txt": b"old %d" % i for i in range(10)}
    aws.upload(archived)
    _run_in(aws, catalog_index, planner.plan(aws.s3, catalog_index, [_request(aws, prefix)],
                                             plan_id=aws.unique("first"), plan_bucket=aws.archive,
                                             index_table=aws.index.name))  # listed and archived first
    rewritten = f"{prefix}old/f003.txt"
    new = {f"{prefix}new/f {i:03d}+.txt": b"new %d" % i for i in range(25)}
    new[f"{prefix}new/big.bin"] = b"b" * (200 * 1024)  # over an eighth of the 1 MiB cap: archived alone
    new[rewritten] = b"rewritten since"
    aws.upload(new)
    manifest, files = write_report(tmp_path, aws.source, aws.archive, objects_of_listing(aws.s3, aws.source, prefix),
                                   "CSV", rows_per_file=20)
    uri = upload_report(aws.s3, aws.archive, f"_inventory/{prefix}manifest.json", manifest, files)
    gone = f"{prefix}new/f 007+.txt"
    aws.s3.delete_object(Bucket=aws.source, Key=gone)
    aws.upload({f"{prefix}new/later.txt": b"after the report"})
    request = _request(aws, prefix, uri, archive_size=1)

    listed = []  # the buckets listed (the plan's own folder of manifests is listed in the archive bucket)
    event = "before-parameter-build.s3.ListObjectsV2"
    aws.s3.meta.events.register(event, lambda params, **_: listed.append(params["Bucket"]))
    try:
        document = planner.plan(aws.s3, catalog_index, [request], plan_id=aws.unique("sql"),
                                plan_bucket=aws.archive, index_table=aws.index.name)
    finally:
        aws.s3.meta.events.unregister(event)
    assert aws.source not in listed and aws.archive in listed
    assert all("manifests" in u for u in document["units"] if u["kind"] == "zip")  # the engine's manifests
    assert document["totals"]["indexed"] == 9 and document["totals"]["rewritten"] == 1

    # The Python planner, asked the same questions of the same catalog, makes the same units.
    python = planner.plan(aws.s3, CatalogIndex(catalog_index.select, catalog_index.identifier), [request],
                          plan_id=aws.unique("py"), plan_bucket=aws.archive, index_table=aws.index.name, dry_run=True)
    assert ([(u["kind"], u["files"], u["bytes"]) for u in python["units"]]
            == [(u["kind"], u["files"], u["bytes"]) for u in document["units"]])
    assert [u["kind"] for u in document["units"]] == ["object", "zip", "zip"]  # new/big.bin sorts first

    packed = _run_in(aws, catalog_index, document)
    assert packed == {key: body for key, body in new.items() if key != gone}
    versions = catalog_index.files([f"{aws.source}/{rewritten}"], with_versions=True)
    assert len(versions[f"{aws.source}/{rewritten}"]) == 2  # the old version and the rewritten one


def _run_in(aws, store, document) -> dict[str, bytes]:
    """Pack every unit into ``store``'s index; the packed files' bytes by source key."""
    packed = {}
    for unit in document["units"]:
        worker.run_unit(aws.s3, store, document, unit)
        if unit["kind"] == "object":
            packed[unit["object"]["key"]] = aws.read_archived(unit["archive_key"])
            continue
        with aws.open_bundle(unit["archive_key"]) as archive:
            rows = get_jsonl(aws.s3, aws.archive, unit["archive_key"] + INDEX_SUFFIX)[1:]
            packed.update({row["source_key"]: archive.read(row["member_name"]) for row in rows})
    return packed

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


def _request(aws, prefix: str, inventory_manifest: str | None = None):
    project = prefix.rstrip("/")
    return parse_request({"project_name": project, "bucket_name": aws.source, "prefix": prefix, "file_count": 20,
                          "archive_size": 100, "output_prefix": f"tests/{project}",
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

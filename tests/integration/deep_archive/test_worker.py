"""The packing worker as Batch runs it (a separate process), on the local stack: kills, retries, deletes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from archiveflow.deep_archive import cost, index, worker
from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.index import INDEX_SUFFIX
from archiveflow.deep_archive.request import parse_request
from archiveflow.errors import SafetyRefusal

pytestmark = pytest.mark.integration


def make_plan(aws, files: dict[str, bytes], prefix: str, *, delete_source: bool = False, file_count: int = 5000,
              **conf):
    project = prefix.rstrip("/")
    aws.upload(files)
    request = parse_request(
        {"project_name": project, "bucket_name": aws.source, "prefix": prefix, "file_count": file_count,
         "archive_size": 100, "output_prefix": f"tests/{project}", "delete_source": delete_source, **conf},
        aws.archive)
    return planner.plan(aws.s3, aws.dynamodb, [request], plan_id=aws.unique(project), plan_bucket=aws.archive,
                        index_table=aws.index.name)


def run_plan(aws, document: dict) -> None:
    for unit in document["units"]:
        worker.run_unit(aws.s3, aws.dynamodb, document, unit)


def start_worker(aws, document: dict) -> subprocess.Popen:
    env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "ARCHIVEFLOW_PLAN": f"s3://{aws.archive}/{planner.plan_key(document['plan_id'])}",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "archiveflow.deep_archive.worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def uploads(aws, key: str) -> list[dict]:
    return aws.s3.list_multipart_uploads(Bucket=aws.archive, Prefix=key).get("Uploads", [])


def kill_mid_bundle(aws, document: dict, signum: int) -> str:
    """Start the worker, wait until its upload has begun, kill it; return its output."""
    key = document["units"][0]["archive_key"]
    process = start_worker(aws, document)
    deadline = time.monotonic() + 60
    while not uploads(aws, key):
        assert process.poll() is None and time.monotonic() < deadline, "the worker never started uploading"
        time.sleep(0.05)
    time.sleep(0.5)  # mid-bundle: members are being read
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, output
    return output


def test_a_killed_worker_leaves_no_half_bundle_and_the_retry_leaves_no_duplicate(aws):
    prefix = aws.unique("kill") + "/"
    files = {f"{prefix}f{i:04d}.txt": b"%d " % i * (i % 50) for i in range(1500)}
    document = make_plan(aws, files, prefix)
    (unit,) = document["units"]
    key = unit["archive_key"]

    output = kill_mid_bundle(aws, document, signal.SIGTERM)
    assert "aborting multipart upload" in output
    assert uploads(aws, key) == []  # SIGTERM (what Batch sends first): the worker aborted its upload
    assert aws.keys(aws.archive, f"tests/{prefix}") == []
    assert aws.index_items(prefix.rstrip("/")) == []

    kill_mid_bundle(aws, document, signal.SIGKILL)
    assert len(uploads(aws, key)) == 1  # SIGKILL cannot be caught: the upload is left behind...

    retry = start_worker(aws, document)
    output, _ = retry.communicate(timeout=300)
    assert retry.returncode == 0, output
    assert "aborted 1 upload(s) left by an earlier attempt" in output  # ...and the retry aborts it
    assert uploads(aws, key) == []
    assert sorted(aws.keys(aws.archive, f"tests/{prefix}")) == [key, key + INDEX_SUFFIX]
    items = aws.index_items(prefix.rstrip("/"))
    assert sorted(item["source_key"] for item in items) == sorted(files)
    with aws.open_bundle(key) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == files

    again = start_worker(aws, document)  # a retry after success changes nothing
    output, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "already archived and indexed" in output, output


def test_sources_are_deleted_only_after_their_bundle_is_indexed(aws):
    prefix = aws.unique("delete") + "/"
    files = {f"{prefix}f{i:03d}.csv": b"a,b\n%d,%d\n" % (i, i * i) for i in range(40)}
    document = make_plan(aws, files, prefix, delete_source=True, file_count=25)
    first, second = document["units"]
    assert (first["files"], second["files"]) == (25, 15)

    etags = {k: aws.s3.head_object(Bucket=aws.source, Key=k)["ETag"] for k in sorted(files)[:25]}
    deletes = []
    aws.s3.meta.events.register("before-parameter-build.s3.DeleteObjects",
                                lambda params, **_: deletes.extend(params["Delete"]["Objects"]))
    try:
        worker.run_unit(aws.s3, aws.dynamodb, document, first)
    finally:
        aws.s3.meta.events.unregister("before-parameter-build.s3.DeleteObjects")
    assert sorted(aws.keys(aws.source, prefix)) == sorted(files)[25:]
    # each delete is conditional on the archived version (S3 keeps an object rewritten since)
    assert {o["Key"]: o["ETag"] for o in deletes} == etags
    with aws.open_bundle(first["archive_key"]) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {k: files[k] for k in sorted(files)[:25]}

    # the second bundle is archived, then one of its index items is changed to point elsewhere
    worker.run_unit(aws.s3, aws.dynamodb, document, {**second, "delete_source": False})
    (version,) = index.versions(aws.dynamodb, aws.index.name, aws.source, f"{prefix}f030.csv")
    aws.index.update_item(Key={"pk": version["pk"]}, UpdateExpression="SET archive_key = :k",
                          ExpressionAttributeValues={":k": "elsewhere.zip"})
    with pytest.raises(SafetyRefusal, match="not indexed to this bundle.*no source deleted"):
        worker.run_unit(aws.s3, aws.dynamodb, document, second)
    assert sorted(aws.keys(aws.source, prefix)) == sorted(files)[25:]


def test_a_rerun_over_the_prefix_packs_only_the_new_files(aws):
    prefix = aws.unique("rerun") + "/"
    files = {f"{prefix}a/f{i:04d}.json": b'{"n": %d}' % i for i in range(400)}
    run_plan(aws, make_plan(aws, files, prefix, file_count=150))
    new = {f"{prefix}b/new{i:03d}.json": b'{"new": %d}' % i for i in range(100)}
    document = make_plan(aws, new, prefix, file_count=150)
    assert document["totals"]["indexed"] == 400
    assert [unit["files"] for unit in document["units"]] == [100]
    run_plan(aws, document)
    with aws.open_bundle(document["units"][0]["archive_key"]) as archive:
        assert sorted(archive.namelist()) == sorted(new)
    items = aws.index_items(prefix.rstrip("/"))
    assert sorted(item["source_key"] for item in items) == sorted(files | new)


def test_each_bundle_is_packed_at_the_level_its_retention_chose(aws):
    prefix = aws.unique("level") + "/"
    files = {f"{prefix}f{i:03d}.csv": b"".join(b"%d,sensor-%d,%d\n" % (j, j * i % 89, j * 7919 % 10007)
                                               for j in range(3000)) for i in range(20)}
    short = make_plan(aws, files, prefix, retention_months=1)
    long = make_plan(aws, files, prefix, retention_months=120)
    sizes = {}
    for document, months in ((short, 1), (long, 120)):
        (unit,) = document["units"]
        assert unit["deflate_level"] == cost.pack_level("DEEP_ARCHIVE", months)
        worker.run_unit(aws.s3, aws.dynamodb, document, unit)
        with aws.open_bundle(unit["archive_key"]) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == files
        sizes[months] = aws.s3.head_object(Bucket=aws.archive, Key=unit["archive_key"])["ContentLength"]
    assert short["units"][0]["deflate_level"] < long["units"][0]["deflate_level"]
    assert sizes[120] < sizes[1]

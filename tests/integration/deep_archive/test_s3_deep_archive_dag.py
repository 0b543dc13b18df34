"""Acceptance of s3_deep_archive on the local stack: the DAG runs (dag.test), Batch children run locally."""

from __future__ import annotations

import os
import random
import zipfile
from collections import Counter

import pytest

pytestmark = pytest.mark.integration

TYPES = {".csv": "text", ".json": "text", ".log": "text", ".bin": "random", ".jpg": "random", ".gz": "random"}


def generate(prefix: str, count: int, seed: int) -> dict[str, bytes]:
    """Mixed sizes and types, small enough for the emulator (~60-150 requests/s)."""
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        suffix = list(TYPES)[i % len(TYPES)]
        size = rng.choice((0, 40, 300, 1500, 4000))
        if TYPES[suffix] == "text":
            body = (b"%d,sensor-%d,%.3f\n" % (i, i % 13, rng.random())) * (size // 20 + 1)
        else:
            body = rng.randbytes(size)
        files[f"{prefix}d{i % 7}/file-{i:05d}{suffix}"] = body[:size]
    return files


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), "../../../dags/s3_deep_archive.py"))
    assert bag.import_errors == {}
    return bag.dags["s3_deep_archive"]


def run(dag, conf: dict):
    return dag.test(run_conf={"require_approval": False, **conf})


def test_10000_files_are_bundled_and_indexed_exactly_once(aws, airflow_db, dag):
    project, prefix = aws.unique("accept"), aws.unique("accept") + "/"
    files = generate(prefix, 10_000, seed=1)
    big_key = f"{prefix}big/oversize.bin"
    files[big_key] = os.urandom(1_100_000)  # > archive_size of 1 MB: archived on its own
    aws.upload(files)
    conf = {"project_name": project, "bucket_name": aws.source, "prefix": prefix, "file_count": 3000,
            "archive_size": 1, "output_prefix": f"tests/{project}"}

    assert run(dag, conf).state == "success"

    items = aws.index_items(project, ("pk", "archive_key", "archive_format", "source_key", "member_name",
                                      "header_offset", "crc32", "compressed_size"))
    assert Counter(item["pk"] for item in items) == Counter(f"{aws.source}/{key}" for key in files)
    bundles = {item["archive_key"] for item in items if item["archive_format"] == "zip"}
    members_seen = Counter()
    for bundle in sorted(bundles):
        with aws.open_bundle(bundle) as archive:
            assert archive.testzip() is None
            names = archive.namelist()
            assert names == sorted(names)  # key order kept
            for info in archive.infolist():
                assert archive.read(info) == files[info.filename]
                expected = zipfile.ZIP_DEFLATED if info.filename.endswith((".csv", ".json", ".log")) and info.file_size > 100 else zipfile.ZIP_STORED
                assert info.compress_type == expected or info.file_size <= 100, info.filename
                members_seen[info.filename] += 1
    assert members_seen == Counter(key for key in files if key != big_key)  # every file in exactly one bundle
    (big,) = [item for item in items if item["archive_format"] == "object"]
    assert aws.read_archived(big["archive_key"]) == files[big_key]
    # each index item points at the member's local header: what a restore seeks to
    sample = next(item for item in items if item["source_key"].endswith("file-00042.csv"))
    with aws.open_bundle(sample["archive_key"]) as archive:
        info = archive.getinfo(sample["member_name"])
        assert (info.header_offset, info.CRC, info.compress_size) == (
            sample["header_offset"], sample["crc32"], sample["compressed_size"])
    assert all(aws.s3.head_object(Bucket=aws.archive, Key=b)["StorageClass"] == "DEEP_ARCHIVE" for b in bundles)
    assert not aws.s3.list_multipart_uploads(Bucket=aws.archive, Prefix=f"tests/{project}").get("Uploads")

    # a second run over the same prefix plus 100 new files packs only the 100 new files
    new_files = {f"{prefix}new/file-{i:03d}.json": b'{"new": %d}' % i for i in range(100)}
    aws.upload(new_files)
    assert run(dag, conf).state == "success"
    items = aws.index_items(project, ("pk", "archive_key", "archive_format"))
    assert Counter(item["pk"] for item in items) == Counter(f"{aws.source}/{key}" for key in {**files, **new_files})
    new_bundles = {item["archive_key"] for item in items if item["archive_format"] == "zip"} - bundles
    packed_again = Counter()
    for bundle in new_bundles:
        with aws.open_bundle(bundle) as archive:
            assert archive.testzip() is None
            for name in archive.namelist():
                assert archive.read(name) == new_files[name]
                packed_again[name] += 1
    assert packed_again == Counter(list(new_files))

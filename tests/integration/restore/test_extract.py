"""Member-only extraction from bundles made by the packer: byte identity for stored, deflated,
streamed (ZIP64 extra), renamed (collision-safe) and stand-alone files; bytes read from the archive
are the member's local header + compressed bytes; CRC-32 mismatches write nothing; versions."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import time

import pytest
from tests.integration.restore.conftest import located, pack, zip_bundle

from archiveflow import resources
from archiveflow.errors import SafetyRefusal
from archiveflow.restore.extract import LOCAL_HEADER, ReadCounter, destination_key, restore_file

pytestmark = pytest.mark.integration


def local_header_length(bundle: bytes, offset: int) -> int:
    name_length, extra_length = struct.unpack_from("<HH", bundle, offset + 26)
    return LOCAL_HEADER.size + name_length + extra_length


def restored(aws, key: str) -> bytes:
    return aws.s3.get_object(Bucket=resources.bucket("restore"), Key=key)["Body"].read()


def test_each_kind_of_member_comes_back_byte_identical_reading_only_its_bytes(aws):
    project = aws.unique("members")
    text = b"".join(b"%06d,sensor,%d\n" % (i, i % 9) for i in range(2000))
    files = {
        f"{project}/deflated.csv": text,
        f"{project}/stored.bin": os.urandom(5000),
        f"{project}/big-streamed.log": text * 60 + os.urandom(2_000_000),  # > 8 MiB: streamed, ZIP64 extra
        f"{project}/dup/a/b.txt": b"the plain one",
        f"{project}/dup/a//b.txt": b"the one with a double slash",  # same safe name: renamed ~1
        f"{project}/dup/README": b"upper",
        f"{project}/dup/readme": b"lower",  # same name on a case-insensitive file system: renamed
    }
    pack(aws, files, project, storage_class="DEEP_ARCHIVE")
    archived = located(aws, project, sorted(files))
    assert {f.compression for f in archived} == {"deflate", "stored"}
    assert any(f.member_name != f.source_key for f in archived)  # collision-safe renames happened
    bundle_key = archived[0].archive_key
    aws.s3.restore_object(Bucket=aws.archive, Key=bundle_key, RestoreRequest={"Days": 1})
    bundle = aws.s3.get_object(Bucket=aws.archive, Key=bundle_key)["Body"].read()  # only to measure headers
    prefix = f"tests/{project}/"
    for f in archived:
        counter = ReadCounter()
        result = restore_file(aws.s3, f, resources.bucket("restore"), prefix, counter)
        assert result["key"] == destination_key(f, prefix)
        body = restored(aws, result["key"])
        assert hashlib.sha256(body).digest() == hashlib.sha256(files[f.source_key]).digest(), f.source_key
        exact = local_header_length(bundle, f.header_offset) + f.compressed_size
        assert counter.bytes == exact <= 1.1 * exact, f.source_key
    assert sorted(aws.keys(resources.bucket("restore"), prefix)) == sorted(destination_key(f, prefix) for f in archived)


def test_a_member_whose_crc_does_not_match_the_index_is_not_written(aws):
    project = aws.unique("crc")
    pack(aws, {f"{project}/f.csv": b"a,b\n" * 500}, project, storage_class="STANDARD_IA")
    (f,) = located(aws, project, [f"{project}/f.csv"])
    wrong = dataclasses.replace(f, crc32=f.crc32 ^ 1)
    with pytest.raises(SafetyRefusal, match="CRC-32"):
        restore_file(aws.s3, wrong, resources.bucket("restore"), f"tests/{project}/", ReadCounter())
    assert aws.keys(resources.bucket("restore"), f"tests/{project}/") == []


def test_an_object_archived_on_its_own_is_copied(aws):
    project = aws.unique("alone")
    body = os.urandom(1_200_000)  # above archive_size (1 MiB): archived as an object of its own
    pack(aws, {f"{project}/huge.bin": body}, project, archive_size=1)
    (f,) = located(aws, project, [f"{project}/huge.bin"])
    assert f.archive_format == "object" and f.member_name is None
    aws.s3.restore_object(Bucket=f.archive_bucket, Key=f.archive_key, RestoreRequest={"Days": 1})
    counter = ReadCounter()
    result = restore_file(aws.s3, f, resources.bucket("restore"), f"tests/{project}/", counter)
    assert restored(aws, result["key"]) == body
    assert counter.bytes == 0  # a server-side copy: nothing downloaded


def test_an_older_version_is_restored_when_asked(aws):
    from archiveflow.restore import lookup

    project = aws.unique("versions")
    key = f"{project}/ledger.csv"
    pack(aws, {key: b"first\n"}, project, storage_class="STANDARD_IA")
    time.sleep(1.1)  # S3's Last-Modified has 1 s resolution: the rewrite is a later version
    pack(aws, {key: b"second, rewritten\n"}, project, storage_class="STANDARD_IA")
    name = [f"{aws.source}/{key}"]

    def restore(version) -> bytes:
        (f,) = lookup.locate(aws.dynamodb, aws.index.name, name, ["filename"], project_name=None, version=version)
        return restored(aws, restore_file(aws.s3, f, resources.bucket("restore"), f"tests/{project}/v{version}/",
                                          ReadCounter())["key"])

    assert restore(None) == b"second, rewritten\n"
    assert restore(1) == b"first\n"
    assert restore(2) == b"second, rewritten\n"
    with pytest.raises(Exception, match="no archived version 3") as caught:
        restore(3)
    assert caught.value.field == "version"


def test_many_files_are_extracted_by_a_batch_array_job(aws):
    from archiveflow.operators.restore import ExtractFilesOperator

    project = aws.unique("many")
    files = {f"{project}/m/{i:02d}.csv": b"row,%d\n" % i * (i + 1) for i in range(5)}
    pack(aws, files, project, storage_class="GLACIER_IR")
    prefix = f"tests/{project}/"
    plan = {"request": {"dry_run": False, "restore_bucket": resources.bucket("restore"), "destination_prefix": prefix},
            "files": [dataclasses.asdict(f) for f in located(aws, project, sorted(files))]}
    operator = ExtractFilesOperator(task_id="extract", plan=plan, batch_above=2, files_per_child=2)
    outcome = operator.run({"run_id": f"manual__{project}"})  # 3 children, run here by the local runner
    assert outcome["failed"] == [] and len(outcome["restored"]) == 5
    for f in located(aws, project, sorted(files)):
        assert restored(aws, destination_key(f, prefix)) == files[f.source_key]
    results = aws.keys(aws.archive, f"_plans/restore-manual__{project}/results/")
    assert len(results) == 3


def test_same_key_in_two_buckets_or_two_versions_never_share_a_destination_nor_overwrite(aws):
    project = aws.unique("collide")
    files = {f"{project}/a.csv": b"bucket one's a.csv\n", f"{project}/b.csv": b"bucket two's a.csv\n"}
    pack(aws, files, project, storage_class="STANDARD_IA")
    one, two = located(aws, project, sorted(files))
    # The same key archived from another bucket, and another version of one file.
    two = dataclasses.replace(two, source_bucket="other-source-bucket", source_key=one.source_key)
    older = dataclasses.replace(one, version="2025-01-01T00:00:00+00:00#0123abcd")
    bucket, prefix = resources.bucket("restore"), f"tests/{project}/"
    keys = [restore_file(aws.s3, f, bucket, prefix, ReadCounter())["key"] for f in (one, two, older)]
    assert len(set(keys)) == 3
    assert [restored(aws, k) for k in keys] == [files[one.source_key], files[f"{project}/b.csv"],
                                                files[one.source_key]]

    # Something else at a destination is never replaced, unless overwrite is asked.
    live = destination_key(one, f"tests/{project}/live/")
    aws.s3.put_object(Bucket=bucket, Key=live, Body=b"the live object")
    with pytest.raises(SafetyRefusal, match="not overwritten"):
        restore_file(aws.s3, one, bucket, f"tests/{project}/live/", ReadCounter())
    assert restored(aws, live) == b"the live object"
    restore_file(aws.s3, one, bucket, f"tests/{project}/live/", ReadCounter(), overwrite=True)
    assert restored(aws, live) == files[one.source_key]
    # Its own copy, found again (a retry, a second run), is kept and reported, not rewritten.
    again = restore_file(aws.s3, one, bucket, f"tests/{project}/live/", ReadCounter())
    assert again["already_restored"] is True


def test_a_member_larger_than_a_part_streams_through_a_multipart_upload_in_bounded_memory(aws):
    """A member above one part (the bound) goes up in parts, never whole in memory: peak Python
    memory of the restore stays under MEMORY_PARTS parts however big the member (80 MiB here; the
    path depends on the part size alone, so a member above S3's 5 GB single-PUT limit takes it too)."""
    import tracemalloc

    from archiveflow.deep_archive.s3io import part_size_for
    from archiveflow.restore.extract import MEMORY_PARTS
    from archiveflow.units import MiB

    project = aws.unique("big")
    member = os.urandom(1 * MiB) * 80
    _, f = zip_bundle(aws, project, {"small.txt": b"before", f"{project}/big.bin": member})
    expected = hashlib.sha256(member).digest()
    del member
    bucket = resources.bucket("restore")
    tracemalloc.start()
    try:
        result = restore_file(aws.s3, f, bucket, f"tests/{project}/", ReadCounter())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_PARTS * part_size_for(f.size) + 8 * MiB < f.size, f"peak {peak / MiB:.0f} MiB"
    head = aws.s3.head_object(Bucket=bucket, Key=result["key"])
    assert head["ETag"].strip('"').endswith(f"-{-(-f.size // part_size_for(f.size))}")  # a multipart object
    assert hashlib.sha256(restored(aws, result["key"])).digest() == expected


class Try:
    """The task instance's try counters, as the extract task reads them."""

    def __init__(self, try_number: int, max_tries: int):
        self.try_number, self.max_tries = try_number, max_tries


def test_each_file_has_its_own_outcome_and_a_retry_redoes_only_the_unverified_ones(aws, monkeypatch):
    from botocore.exceptions import ReadTimeoutError

    from archiveflow.errors import TransientServiceError
    from archiveflow.operators.restore import ExtractFilesOperator
    from archiveflow.restore import extract

    project = aws.unique("outcomes")
    members = {f"{project}/ok.csv": b"fine\n" * 100, f"{project}/slow.csv": b"slow\n" * 100,
               f"{project}/corrupt.csv": b"\xff" * 400}  # an invalid deflate block
    files = zip_bundle(aws, project, members)
    files[2] = dataclasses.replace(files[2], compression="deflate")  # its bytes do not inflate: zlib.error
    prefix = f"tests/{project}/"
    plan = {"request": {"dry_run": False, "restore_bucket": resources.bucket("restore"), "destination_prefix": prefix},
            "files": [dataclasses.asdict(f) for f in files]}
    real = extract.compressed_bytes
    reads = []

    def flaky(s3, f, counter):
        reads.append(f.source_key)
        if f.source_key.endswith("slow.csv") and len(reads) <= len(files):  # on the first try only
            raise ReadTimeoutError(endpoint_url="http://s3")
        return real(s3, f, counter)

    monkeypatch.setattr(extract, "compressed_bytes", flaky)
    operator = ExtractFilesOperator(task_id="extract", plan=plan)
    with pytest.raises(TransientServiceError, match="slow.csv"):
        operator.run({"ti": Try(1, 1)})  # the timeout may pass: the task is retried
    assert restored(aws, destination_key(files[0], prefix)) == members[f"{project}/ok.csv"]

    first_try = len(reads)
    outcome = operator.run({"ti": Try(2, 1)})  # the last try reports
    assert sorted(reads[first_try:]) == sorted([f"{project}/slow.csv", f"{project}/corrupt.csv"])  # ok.csv is not read again
    assert {r["source"]: bool(r.get("already_restored")) for r in outcome["restored"]} == {
        files[0].source: True, files[1].source: False}
    ((failure),) = outcome["failed"]
    assert failure["source"] == files[2].source and failure["retryable"] is False and failure["error"].startswith("error:")
    assert aws.keys(resources.bucket("restore"), destination_key(files[2], prefix)) == []

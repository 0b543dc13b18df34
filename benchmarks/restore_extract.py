"""Benchmark: restoring one small member of a big bundle with ranged GETs (s3_restore's extractor)
vs downloading the whole bundle and unzipping it, in the same run, on a moto server started here
(stopped by pid at the end).

    .venv/bin/python benchmarks/restore_extract.py [--bundle-mib 1024] [--member-kib 16] [--rss-mib 32,640]

The bundle is written by the packer (`archiveflow.deep_archive.zipstream.pack`) into a multipart
upload in DEEP_ARCHIVE: large incompressible members around one small CSV member in the middle.
After a restore of the bundle, both ways write the member to the restore bucket; the script prints
bytes read from the archive and seconds for each, and checks both wrote the same bytes.

Memory: for each `--rss-mib` size, one bundle holding one streamed (deflated) member of that size is
restored by a fresh process, which prints its peak RSS (`VmHWM`) above what it held before
the restore. The bound is MEMORY_PARTS parts of `part_size_for(size)` per file (48 MiB up to
~140 GiB members): the peak must stay flat in member size, one size above the bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from archiveflow.deep_archive.index import COMPRESSION  # noqa: E402
from archiveflow.deep_archive.s3io import MultipartUpload, part_size_for  # noqa: E402
from archiveflow.deep_archive.zipstream import Member, pack  # noqa: E402
from archiveflow.restore.extract import MEMORY_PARTS, ReadCounter, restore_file  # noqa: E402
from archiveflow.restore.lookup import ArchivedFile  # noqa: E402
from archiveflow.units import MiB  # noqa: E402
from emulator import start_moto  # noqa: E402

ARCHIVE, RESTORE = "bench-archive", "bench-restore"
FILLER_MIB = 64
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class SyntheticSource:
    """Big members are slices of one random block (incompressible, cheap to make); the small one is CSV."""

    def __init__(self, small_name: str, small: bytes):
        self._block = os.urandom(FILLER_MIB * MiB)
        self._small_name, self._small = small_name, small

    def read(self, member: Member) -> bytes:
        return self._small if member.name == self._small_name else self._block[: member.size]

    def chunks(self, member: Member):
        data = self.read(member)
        for start in range(0, len(data), 4 * MiB):
            yield data[start:start + 4 * MiB]


def write_bundle(s3, bundle_mib: int, member_kib: int) -> ArchivedFile:
    """A DEEP_ARCHIVE bundle of about `bundle_mib` MiB; returns the small member's index entry."""
    small_name = "reports/2026-01/5000_20240517_003.csv"
    small = b"".join(b"%08d,sensor-%d,%.3f\n" % (i, i % 13, i / 7) for i in range(member_kib * 1024 // 20 + 1))
    small = small[: member_kib * 1024]
    fillers = max(bundle_mib // FILLER_MIB, 2)
    members = [Member(f"filler/{i:04d}.bin", FILLER_MIB * MiB, NOW) for i in range(fillers)]
    members.insert(fillers // 2, Member(small_name, len(small), NOW))
    upload = MultipartUpload(s3, ARCHIVE, "bench/bundle.zip", "DEEP_ARCHIVE", part_size_for(fillers * FILLER_MIB * MiB))
    entries = pack(members, SyntheticSource(small_name, small), upload.write, level=1)
    upload.complete()
    entry = next(e for e in entries if e.name == small_name)
    return ArchivedFile(source_bucket="bench-source", source_key=small_name, archive_bucket=ARCHIVE,
                        archive_key="bench/bundle.zip", archive_format="zip", storage_class="DEEP_ARCHIVE",
                        size=entry.size, version="1", member_name=entry.name, header_offset=entry.offset,
                        compressed_size=entry.compressed_size, crc32=entry.crc32,
                        compression=COMPRESSION.get(entry.method, "stored"))


class RepeatedBlock:
    """One big streamed member: a 4 MiB random block repeated (incompressible to deflate's 32 KiB window)."""

    def __init__(self):
        self._block = os.urandom(4 * MiB)

    def read(self, member: Member) -> bytes:
        raise AssertionError("a big member is streamed")

    def chunks(self, member: Member):
        for start in range(0, member.size, len(self._block)):
            yield self._block[: min(len(self._block), member.size - start)]


def write_big_member(s3, mib: int) -> ArchivedFile:
    key = f"bench/big-{mib}.zip"
    member = Member(f"big/{mib}.bin", mib * MiB, NOW)
    upload = MultipartUpload(s3, ARCHIVE, key, "STANDARD", part_size_for(member.size))
    (entry,) = pack([member], RepeatedBlock(), upload.write, level=1)
    upload.complete()
    return ArchivedFile(source_bucket="bench-source", source_key=member.name, archive_bucket=ARCHIVE, archive_key=key,
                        archive_format="zip", storage_class="STANDARD", size=entry.size, version="1",
                        member_name=entry.name, header_offset=entry.offset, compressed_size=entry.compressed_size,
                        crc32=entry.crc32, compression=COMPRESSION.get(entry.method, "stored"))


def client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def high_water_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def restore_in_child(endpoint: str, f: ArchivedFile) -> None:
    """Runs in a fresh process: restore one member, print RSS before and peak (MiB) as JSON."""
    s3 = client(endpoint)
    s3.head_bucket(Bucket=RESTORE)  # the client and its connection pool exist before the baseline
    before = high_water_mib()
    started = time.perf_counter()
    restore_file(s3, f, RESTORE, "rss/", ReadCounter(), overwrite=True)
    peak = high_water_mib()
    print(json.dumps({"before_mib": before, "peak_mib": peak, "seconds": time.perf_counter() - started}))


def peak_rss(endpoint: str, mib: int) -> float:
    """MiB of peak RSS the restore of one `mib` MiB member added to its process."""
    s3 = client(endpoint)
    f = write_big_member(s3, mib)
    child = subprocess.run([sys.executable, __file__, "--child", endpoint, json.dumps(dataclasses.asdict(f))],
                           check=True, capture_output=True, text=True)
    figures = json.loads(child.stdout.splitlines()[-1])
    bound = MEMORY_PARTS * part_size_for(f.size) / MiB
    print(f"member {mib:>6,} MiB ({f.compression}): peak RSS {figures['peak_mib']:7,.0f} MiB, "
          f"{figures['peak_mib'] - figures['before_mib']:5,.0f} MiB above the {figures['before_mib']:,.0f} MiB before "
          f"(bound {bound:,.0f} MiB), {figures['seconds']:.1f} s; load average {os.getloadavg()}")
    s3.delete_object(Bucket=ARCHIVE, Key=f.archive_key)
    return figures["peak_mib"] - figures["before_mib"]


def whole_bundle(s3, f: ArchivedFile) -> tuple[int, float]:
    """The baseline: download the bundle, unzip the member, upload it."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bundle.zip"
        s3.download_file(f.archive_bucket, f.archive_key, str(path))
        with zipfile.ZipFile(path) as bundle:
            data = bundle.read(f.member_name)
        s3.put_object(Bucket=RESTORE, Key=f"whole/{f.source_key}", Body=data)
        return path.stat().st_size, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle-mib", type=int, default=1024)
    parser.add_argument("--member-kib", type=int, default=16)
    parser.add_argument("--rss-mib", default="32,640", help="member sizes (MiB) whose restore's peak RSS is measured")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return restore_in_child(args.child[0], ArchivedFile(**json.loads(args.child[1])))
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
    moto, endpoint = start_moto()
    try:
        s3 = client(endpoint)
        for bucket in (ARCHIVE, RESTORE):
            s3.create_bucket(Bucket=bucket)
        sizes = [int(size) for size in args.rss_mib.split(",") if size]
        added = [peak_rss(endpoint, mib) for mib in sizes]
        if len(sizes) > 1:
            print(f"peak RSS added: {added[-1] / added[0]:.2f}x for a {sizes[-1] / sizes[0]:,.0f}x bigger member")
        started = time.perf_counter()
        f = write_bundle(s3, args.bundle_mib, args.member_kib)
        size = s3.head_object(Bucket=ARCHIVE, Key=f.archive_key)["ContentLength"]
        print(f"bundle: {size / MiB:,.0f} MiB written in {time.perf_counter() - started:.1f} s; member "
              f"{f.member_name}: {f.size:,} bytes ({f.compression}, {f.compressed_size:,} compressed)")
        s3.restore_object(Bucket=ARCHIVE, Key=f.archive_key, RestoreRequest={"Days": 1})

        counter = ReadCounter()
        started = time.perf_counter()
        result = restore_file(s3, f, RESTORE, "ranged/", counter)
        ranged_seconds = time.perf_counter() - started
        whole_bytes, whole_seconds = whole_bundle(s3, f)

        ranged = s3.get_object(Bucket=RESTORE, Key=result["key"])["Body"].read()
        whole = s3.get_object(Bucket=RESTORE, Key=f"whole/{f.source_key}")["Body"].read()
        assert hashlib.sha256(ranged).digest() == hashlib.sha256(whole).digest(), "the two ways differ"
        print(f"ranged GETs : {counter.bytes:>15,} bytes read in {counter.requests} GET(s), {ranged_seconds:8.3f} s")
        print(f"whole bundle: {whole_bytes:>15,} bytes read,                {whole_seconds:8.3f} s")
        print(f"ratio       : {whole_bytes / counter.bytes:,.0f}x fewer bytes, {whole_seconds / ranged_seconds:,.0f}x "
              f"faster; load average after: {os.getloadavg()}")
    finally:
        moto.terminate()
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()

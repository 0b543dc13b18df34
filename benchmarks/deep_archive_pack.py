"""Benchmark: archiveflow's zip packer vs Info-ZIP `zip -r`, then from the local S3 (moto).

    .venv/bin/python benchmarks/deep_archive_pack.py [--files 20000] [--level N] [--skip-s3]

1. Generates --files files of 1-64 KB on local disk, half compressible (CSV-like text), half not
   (random bytes named .bin, so only the packer's probe, not the suffix, can tell).
2. Times `zip -r -q` (deflate 6, one core) and our packer (the worker's deflate level by
   default, --level to change it; stores what does not compress, compresses in a thread pool)
   on the same files, in the same run; prints files/s and the ratio (goal >= 1.5).
3. Peak RSS of the packer, in a fresh process, for a 100 MiB and a 1 GiB bundle (goal: flat).
4. The same from S3: the files are uploaded to a moto server started here (stopped by pid at the
   end), packed from S3 into a multipart upload, and the peak RSS measured for 100 MiB and 1 GiB
   bundles (of 1 MiB objects there: moto serves ~100-200 small requests/s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from botocore.config import Config  # noqa: E402

from archiveflow.deep_archive.s3io import CHUNK, MultipartUpload, S3Source, part_size_for  # noqa: E402
from archiveflow.deep_archive.worker import DEFLATE_LEVEL  # noqa: E402
from archiveflow.deep_archive.zipstream import Member, pack  # noqa: E402
from archiveflow.units import MiB  # noqa: E402
from emulator import start_moto  # noqa: E402

BUCKET = "bench"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def generate(root: Path, count: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        size = rng.randint(1024, 64 * 1024)
        if i % 2:
            path, body = root / f"d{i % 50:02d}/f{i:06d}.bin", rng.randbytes(size)
        else:
            rows = b"".join(b"%d,%s,%d,%.4f\n" % (j, rng.choice((b"ok", b"warn", b"fail")), rng.randint(0, 10**6),
                                                  rng.random()) for j in range(size // 24 + 1))
            path, body = root / f"d{i % 50:02d}/f{i:06d}.csv", rows[:size]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        paths.append(path)
    return paths


class DiskSource:
    def __init__(self, paths: dict[str, Path]):
        self._paths = paths

    def read(self, member: Member) -> bytes:
        return self._paths[member.name].read_bytes()

    def chunks(self, member: Member):
        with self._paths[member.name].open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def members_up_to(paths: list[Path], root: Path, total_bytes: int) -> tuple[list[Member], dict[str, Path]]:
    """Members totalling ``total_bytes`` (cycling through the files under new names if needed)."""
    when = datetime(2026, 11, 10, tzinfo=UTC)
    members, sources, size, lap = [], {}, 0, 0
    while size < total_bytes:
        for path in paths:
            name = f"lap{lap}/{path.relative_to(root)}"
            length = path.stat().st_size
            members.append(Member(name, length, when))
            sources[name] = path
            size += length
            if size >= total_bytes:
                break
        lap += 1
    return members, sources


def pack_local(paths: list[Path], root: Path, out: Path, total_bytes: int, level: int) -> dict:
    members, sources = members_up_to(paths, root, total_bytes)
    started = time.perf_counter()
    with out.open("wb") as handle:
        pack(members, DiskSource(sources), handle.write, threads=4, level=level)
    return {"seconds": time.perf_counter() - started, "files": len(members),
            "bytes": sum(m.size for m in members), "zip_bytes": out.stat().st_size}


def pack_s3(endpoint: str, prefix: str, total_bytes: int) -> dict:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS,
                      config=Config(max_pool_connections=32))
    listed = [obj for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
              for obj in page.get("Contents", [])]
    members, size = [], 0
    for obj in listed:
        if size >= total_bytes:
            break
        members.append(Member(obj["Key"], obj["Size"], obj["LastModified"]))
        size += obj["Size"]
    started = time.perf_counter()
    upload = MultipartUpload(s3, BUCKET, f"out/{prefix}{size}.zip", "DEEP_ARCHIVE", part_size_for(size))
    pack(members, S3Source(s3, BUCKET, {o["Key"]: o["ETag"] for o in listed}), upload.write, threads=16)
    sent = upload.complete()
    return {"seconds": time.perf_counter() - started, "files": len(members), "bytes": size, "zip_bytes": sent["size"]}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(*args: str) -> dict:
    """Run one measurement in a new interpreter so its peak RSS is its own."""
    output = subprocess.run([sys.executable, __file__, "--measure", *args], check=True, capture_output=True,
                            text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def upload(endpoint: str, keys: list[str], body: Callable[[str], bytes]) -> float:
    """PUT ``body(key)`` for each key; bodies are made in the threads so this process stays small
    (a child's ru_maxrss starts from its parent's RSS at fork)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS, config=Config(max_pool_connections=32))
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=body(key)), keys))
    return time.perf_counter() - started


def rate(result: dict) -> str:
    return (f"{result['files']:,} files, {result['bytes'] / MiB:,.0f} MiB -> {result['zip_bytes'] / MiB:,.0f} MiB "
            f"in {result['seconds']:.1f} s = {result['files'] / result['seconds']:,.0f} files/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--level", type=int, default=DEFLATE_LEVEL,
                        help=f"our deflate level (the worker's: {DEFLATE_LEVEL}; zip -r uses 6)")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one measurement, JSON on the last line
        kind, *rest = args.measure
        if kind == "local":
            root = Path(rest[0])
            paths = sorted(p for p in root.rglob("*") if p.is_file())
            result = pack_local(paths, root, Path(rest[1]), int(rest[2]), int(rest[3]))
        else:
            result = pack_s3(rest[0], rest[1], int(rest[2]))
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return

    work = Path(tempfile.mkdtemp(prefix="deep-archive-bench-"))
    try:
        root = work / "files"
        started = time.perf_counter()
        paths = generate(root, args.files)
        total = sum(p.stat().st_size for p in paths)
        print(f"generated {len(paths):,} files, {total / MiB:,.0f} MiB in {time.perf_counter() - started:.0f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        started = time.perf_counter()
        subprocess.run(["zip", "-r", "-q", str(work / "infozip.zip"), "files"], cwd=work, check=True)
        infozip = time.perf_counter() - started
        print(f"Info-ZIP zip -r: {len(paths) / infozip:,.0f} files/s ({infozip:.1f} s, "
              f"{(work / 'infozip.zip').stat().st_size / MiB:,.0f} MiB)")

        ours = in_fresh_process("local", str(root), str(work / "ours.zip"), str(total), str(args.level))
        print(f"archiveflow packer (disk, deflate {args.level}): {rate(ours)}, peak RSS {ours['peak_rss_mib']:.0f} MiB")
        print(f"ratio (ours / zip -r files/s): {infozip / ours['seconds']:.2f}  (goal >= 1.5)")
        with zipfile.ZipFile(work / "ours.zip") as archive:
            assert archive.testzip() is None and len(archive.namelist()) == len(paths)
        for size in (100 * MiB, 1000 * MiB):
            result = in_fresh_process("local", str(root), str(work / "mem.zip"), str(size), str(args.level))
            print(f"  {size // MiB:>5} MiB bundle from disk: {rate(result)}, peak RSS {result['peak_rss_mib']:.0f} MiB")

        if args.skip_s3:
            return
        moto, endpoint = start_moto()
        try:
            import boto3

            boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket=BUCKET)
            seconds = upload(endpoint, [f"small/{p.relative_to(root)}" for p in paths],
                             lambda key: (root / key.removeprefix("small/")).read_bytes())
            print(f"uploaded {len(paths):,} files to moto in {seconds:.0f} s ({len(paths) / seconds:,.0f} files/s)")
            result = in_fresh_process("s3", endpoint, "small/", str(total))
            print(f"archiveflow packer (moto S3 -> multipart): {rate(result)}, peak RSS {result['peak_rss_mib']:.0f} MiB; "
                  f"ratio vs zip -r on disk: {infozip / result['seconds']:.2f}")
            upload(endpoint, [f"large/{i:04d}.bin" for i in range(1000)],
                   lambda key: b"a" * (MiB // 2) + random.Random(key).randbytes(MiB // 2))
            for size in (100 * MiB, 1000 * MiB):
                result = in_fresh_process("s3", endpoint, "large/", str(size))
                print(f"  {size // MiB:>5} MiB bundle from moto: {rate(result)}, peak RSS {result['peak_rss_mib']:.0f} MiB")
        finally:
            moto.terminate()
            moto.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()

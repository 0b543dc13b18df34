"""Benchmark: archiveflow's zip packer vs Info-ZIP `zip -r`, then from the local S3 (moto).

    .venv/bin/python benchmarks/deep_archive_pack.py [--files 20000] [--repeat 3] [--level N]
                                                     [--levels 1,3,6] [--skip-s3]

1. Generates two corpora of --files files of 1-64 KB on local disk: "mixed" (half compressible
   CSV-like text, half random bytes named .bin, so only the packer's probe, not the suffix, can
   tell) and "text" (all CSV-like text: random bytes flatter the store-don't-compress shortcut).
2. For each corpus, --repeat times in the same run: `zip -r -q` (deflate 6, one core), our packer
   at the worker's settings (its deflate level and threads), and our packer with one thread
   ("per core"; goals: >= 4x and >= 2x `zip -r`'s speed, at <= 1.005x its size). Prints wall
   time, CPU time (load-proof: what a 1-vCPU Batch child pays for), files/s and MB/s per core,
   the ratios, and the load average with every figure.
3. --levels: CPU seconds per GiB and size for each deflate level on the text corpus, one thread:
   the figures behind `deep_archive.cost.PACK_LEVELS`.
4. Peak RSS of the packer, in a fresh process, for a 100 MiB and a 1 GiB bundle (goal: flat).
5. The same from S3: the files are uploaded to a moto server started here (stopped by pid at the
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
from archiveflow.deep_archive.worker import DEFLATE_LEVEL, READ_THREADS  # noqa: E402
from archiveflow.deep_archive.zipstream import Member, pack  # noqa: E402
from archiveflow.units import MiB  # noqa: E402
from emulator import start_moto  # noqa: E402

BUCKET = "bench"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def generate(root: Path, count: int, *, text_only: bool = False, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        size = rng.randint(1024, 64 * 1024)
        if i % 2 and not text_only:
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


def pack_local(paths: list[Path], root: Path, out: Path, total_bytes: int, level: int, threads: int) -> dict:
    members, sources = members_up_to(paths, root, total_bytes)
    started, cpu = time.perf_counter(), time.process_time()
    with out.open("wb") as handle:
        pack(members, DiskSource(sources), handle.write, threads=threads, level=level)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "files": len(members), "bytes": sum(m.size for m in members), "zip_bytes": out.stat().st_size}


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
    pack(members, S3Source(s3, BUCKET, {o["Key"]: o["ETag"] for o in listed}), upload.write, threads=READ_THREADS,
         level=DEFLATE_LEVEL)
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


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def info_zip(work: Path, corpus: str) -> dict:
    """`zip -r -q` of ``work/corpus``: wall and CPU seconds (its own, from RUSAGE_CHILDREN)."""
    out = work / f"{corpus}-infozip.zip"
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["zip", "-r", "-q", str(out), corpus], cwd=work, check=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": seconds, "cpu_seconds": cpu, "zip_bytes": out.stat().st_size}


def check_readable(archive: Path, count: int) -> str:
    """Every unzip at hand reads it: Python's zipfile, Info-ZIP's `unzip -t`, 7-Zip's `7z t`."""
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is None and len(opened.namelist()) == count
    readers = ["zipfile"]
    for command in (["unzip", "-tqq", str(archive)], ["7z", "t", "-bd", str(archive)]):
        if shutil.which(command[0]):
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            readers.append(" ".join(command[:2]))
    return ", ".join(readers)


def compare(work: Path, corpus: str, args: argparse.Namespace) -> list[tuple[float, float, float, float]]:
    """``zip -r`` vs ours at the worker's settings vs ours on one thread, ``args.repeat`` times;
    returns (speed, size, per-core wall speed, per-core CPU speed) ratios per round."""
    root = work / corpus
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in paths)
    print(f"\n{corpus} corpus: {len(paths):,} files, {total / 1e6:,.1f} MB; ours at deflate level {args.level}, "
          f"{args.threads} threads and at 1 thread")
    rounds = []
    for attempt in range(1, args.repeat + 1):
        print(f"  round {attempt}, {load_average()}")
        theirs = info_zip(work, corpus)
        ours = in_fresh_process("local", str(root), str(work / "ours.zip"), str(total), str(args.level),
                                str(args.threads))
        if attempt == 1:
            print(f"    ours is read by: {check_readable(work / 'ours.zip', len(paths))}")
        one = in_fresh_process("local", str(root), str(work / "one.zip"), str(total), str(args.level), "1")
        speed, size = theirs["seconds"] / ours["seconds"], ours["zip_bytes"] / theirs["zip_bytes"]
        core_wall, core_cpu = theirs["seconds"] / one["seconds"], theirs["cpu_seconds"] / one["cpu_seconds"]
        print(f"    zip -r:      {theirs['seconds']:6.1f} s wall, {theirs['cpu_seconds']:6.1f} s CPU, "
              f"{len(paths) / theirs['seconds']:6,.0f} files/s, {theirs['zip_bytes'] / 1e6:,.1f} MB")
        print(f"    ours:        {ours['seconds']:6.1f} s wall, {ours['cpu_seconds']:6.1f} s CPU, "
              f"{len(paths) / ours['seconds']:6,.0f} files/s, {ours['zip_bytes'] / 1e6:,.1f} MB: "
              f"{speed:.2f}x zip -r's speed (goal >= 4), {size:.4f}x its size (goal <= 1.005); "
              f"{ours['cpu_seconds'] / ours['seconds']:.2f} of {os.cpu_count()} cores busy, "
              f"{ours['cpu_seconds'] / one['cpu_seconds']:.2f}x the CPU of 1 thread")
        print(f"    ours, 1 thread: {one['seconds']:6.1f} s wall, {one['cpu_seconds']:6.1f} s CPU: "
              f"{len(paths) / one['cpu_seconds']:,.0f} files/s and {total / 1e6 / one['cpu_seconds']:,.1f} MB/s "
              f"per core; {core_wall:.2f}x zip -r's speed in wall time, {core_cpu:.2f}x in CPU time "
              f"(goal >= 2), {one['zip_bytes'] / theirs['zip_bytes']:.4f}x its size; {load_average()}")
        rounds.append((speed, size, core_wall, core_cpu))
    best = [max(r[i] for r in rounds) for i in (0, 2, 3)]
    print(f"  {corpus}: speed {', '.join(f'{r[0]:.2f}' for r in rounds)}x (best {best[0]:.2f}x); per core "
          f"{', '.join(f'{r[2]:.2f}' for r in rounds)}x wall (best {best[1]:.2f}x), "
          f"{', '.join(f'{r[3]:.2f}' for r in rounds)}x CPU (best {best[2]:.2f}x); size {rounds[0][1]:.4f}x")
    return rounds


def sweep_levels(work: Path, levels: list[int]) -> None:
    """CPU seconds per GiB and size against `zip -r` for each level, one thread, text corpus."""
    root = work / "text"
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in paths)
    theirs = info_zip(work, "text")
    print(f"\nlevels on the text corpus, 1 thread ({load_average()}); zip -r: "
          f"{theirs['cpu_seconds'] * 1024 * MiB / total:.0f} CPU s/GiB")
    for level in levels:
        one = in_fresh_process("local", str(root), str(work / "one.zip"), str(total), str(level), "1")
        print(f"  level {level:2d}: {one['cpu_seconds'] * 1024 * MiB / total:6.1f} CPU s/GiB, "
              f"{one['zip_bytes'] / total:.4f} of the input, {one['zip_bytes'] / theirs['zip_bytes']:.4f}x zip -r")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--level", type=int, default=DEFLATE_LEVEL,
                        help=f"our deflate level (the worker's: {DEFLATE_LEVEL}; zip -r uses 6)")
    parser.add_argument("--threads", type=int, default=READ_THREADS, help=f"the worker's: {READ_THREADS}")
    parser.add_argument("--levels", help="comma-separated levels to sweep on the text corpus")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one measurement, JSON on the last line
        kind, *rest = args.measure
        if kind == "local":
            root = Path(rest[0])
            paths = sorted(p for p in root.rglob("*") if p.is_file())
            result = pack_local(paths, root, Path(rest[1]), int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            result = pack_s3(rest[0], rest[1], int(rest[2]))
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return

    work = Path(tempfile.mkdtemp(prefix="deep-archive-bench-"))
    try:
        started = time.perf_counter()
        for corpus, text_only in (("mixed", False), ("text", True)):
            generate(work / corpus, args.files, text_only=text_only)
        print(f"generated 2 x {args.files:,} files in {time.perf_counter() - started:.0f} s; {load_average()}")
        if args.levels:
            sweep_levels(work, [int(level) for level in args.levels.split(",")])
        for corpus in ("mixed", "text"):
            compare(work, corpus, args)

        root = work / "mixed"
        paths = sorted(p for p in root.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in paths)
        print()
        for size in (100 * MiB, 1000 * MiB):
            result = in_fresh_process("local", str(root), str(work / "mem.zip"), str(size), str(args.level),
                                      str(args.threads))
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
            print(f"archiveflow packer (moto S3 -> multipart): {rate(result)}, peak RSS {result['peak_rss_mib']:.0f} MiB")
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

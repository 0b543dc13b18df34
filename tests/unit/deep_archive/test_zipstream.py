"""The streaming zip writer: real zips, opened and checked with Python's zipfile."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest

from archiveflow.deep_archive.worker import DEFLATE_LEVEL
from archiveflow.deep_archive.zipstream import DEFLATED, STORED, Member, pack

WHEN = datetime(2026, 11, 10, 3, 0, 0, tzinfo=UTC)


class MemorySource:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.streamed: list[str] = []

    def read(self, member: Member) -> bytes:
        return self.files[member.name]

    def chunks(self, member: Member):
        self.streamed.append(member.name)
        data = self.files[member.name]
        return (data[i:i + 1000] for i in range(0, len(data), 1000))


def _pack(files: dict[str, bytes], **options) -> tuple[bytes, list, MemorySource]:
    out = io.BytesIO()
    source = MemorySource(files)
    members = [Member(name, len(data), WHEN) for name, data in files.items()]
    entries = pack(members, source, out.write, **options)
    return out.getvalue(), entries, source


def _text(n: int) -> bytes:
    return b"".join(b"2026-11-10,sensor-%04d,%d\n" % (i % 97, i) for i in range(n))


def test_every_member_round_trips_in_order_with_the_right_method():
    rng = random.Random(5)
    files = {
        "logs/a.csv": _text(2000),
        "logs/b.bin": rng.randbytes(30_000),  # incompressible, unknown suffix: the probe stores it
        "logs/c.csv.gz": _text(500),  # compressible but named compressed: stored
        "logs/empty.txt": b"",
        "logs/ünïcode name.txt": b"hello",
    }
    blob, entries, _ = _pack(files, threads=3)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(files)
        for name, data in files.items():
            assert archive.read(name) == data
        methods = {info.filename: info.compress_type for info in archive.infolist()}
        offsets = {info.filename: info.header_offset for info in archive.infolist()}
    assert methods == {"logs/a.csv": DEFLATED, "logs/b.bin": STORED, "logs/c.csv.gz": STORED,
                       "logs/empty.txt": STORED, "logs/ünïcode name.txt": STORED}
    assert [(e.name, e.offset) for e in entries] == list(offsets.items())


def test_big_members_are_streamed_with_a_zip64_data_descriptor():
    files = {"small.csv": _text(100), "big.csv": _text(20_000), "big.bin": os.urandom(300_000), "z": b"tail"}
    blob, entries, source = _pack(files, buffer_limit=100_000)
    assert source.streamed == ["big.csv", "big.bin"]
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in files} == files
        big = archive.getinfo("big.csv")
        assert big.flag_bits & 0x08 and big.compress_type == DEFLATED
        assert big.compress_size < big.file_size


def test_more_than_65535_members_get_zip64_end_records():
    files = {f"f{i:06d}": b"x%d" % i for i in range(70_000)}
    blob, entries, _ = _pack(files, threads=2)
    assert len(entries) == 70_000
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert len(archive.infolist()) == 70_000
        assert archive.read("f069999") == b"x69999"


def test_a_failing_read_stops_the_pack():
    class Broken(MemorySource):
        def read(self, member):
            if member.name == "b":
                raise OSError("gone")
            return super().read(member)

    members = [Member(n, 1, WHEN) for n in "abc"]
    with pytest.raises(OSError, match="gone"):
        pack(members, Broken({"a": b"1", "c": b"3"}), io.BytesIO().write)


def _zip_r_size(files: dict[str, bytes]) -> int:
    """What Info-ZIP's `zip -r` writes (deflate level 6), as Python's zipfile writes it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return len(out.getvalue())


def test_the_workers_default_level_is_no_bigger_than_zip_r_and_every_unzip_reads_it(tmp_path):
    rng = random.Random(3)
    files = {f"t/{i:03d}.csv": b"".join(b"%d,%s,%d\n" % (j, rng.choice((b"ok", b"warn")), rng.randint(0, 10**6))
                                        for j in range(rng.randint(50, 3000))) for i in range(40)}
    blob, _, _ = _pack(files, level=DEFLATE_LEVEL)
    assert len(blob) <= 1.005 * _zip_r_size(files)
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(blob)
    with zipfile.ZipFile(archive) as opened:
        assert {name: opened.read(name) for name in files} == files
    readers = [command for command in (["unzip", "-tqq"], ["7z", "t"]) if shutil.which(command[0])]
    if not readers:
        pytest.skip("neither unzip nor 7z is installed")
    for command in readers:
        subprocess.run([*command, str(archive)], check=True, stdout=subprocess.DEVNULL)

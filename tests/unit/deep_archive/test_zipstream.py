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
from archiveflow.deep_archive.zipstream import BATCH_MEMBERS, DEFLATED, STORED, Member, MemberMissing, pack

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


class Gone(MemorySource):
    """A source some of whose members were deleted since the plan."""

    def __init__(self, files: dict[str, bytes], gone: set[str]):
        super().__init__(files)
        self.gone = gone

    def read(self, member: Member) -> bytes:
        if member.name in self.gone:
            raise MemberMissing(member.name)
        return super().read(member)


def test_entries_give_each_members_offset_crc_and_sizes_across_batches_streams_and_missing_members():
    rng = random.Random(11)
    files = {f"m/{i:04d}.{'csv' if i % 3 else 'bin'}": _text(rng.randint(0, 300)) if i % 3 else rng.randbytes(
        rng.randint(0, 5000)) for i in range(3 * BATCH_MEMBERS + 5)}
    files["m/0100-big.csv"] = _text(20_000)  # streamed between two batches
    gone = {"m/0000.bin", "m/0070.csv", "m/0071.csv", f"m/{3 * BATCH_MEMBERS + 4:04d}.csv"}
    members = [Member(name, len(data), WHEN) for name, data in sorted(files.items())]
    out, left_out = io.BytesIO(), []
    entries = pack(members, Gone(files, gone), out.write, threads=3, buffer_limit=100_000,
                   on_missing=lambda member: left_out.append(member.name))
    assert left_out == sorted(gone)
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [info.filename for info in infos] == [m.name for m in members if m.name not in gone]
        assert all(archive.read(info) == files[info.filename] for info in infos)
    assert [(e.name, e.offset, e.crc32, e.compressed_size, e.size, e.method) for e in entries] == [
        (i.filename, i.header_offset, i.CRC, i.compress_size, i.file_size, i.compress_type) for i in infos]

    with pytest.raises(MemberMissing, match="m/0070.csv"):  # without on_missing, a gone member stops the pack
        pack(members[1:], Gone(files, gone), io.BytesIO().write)


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

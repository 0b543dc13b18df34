"""Packing never loses, hides or double-stores a file (issue 11), on the local stack: keys real
buckets hold come back out of every bundle with the real `unzip`, bundles land only where nothing
deletes them, overlapping sources are planned once, one bad object blocks no run, and a rewritten
object is archived again with every version kept in the index."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from test_worker import make_plan, run_plan, start_worker

from archiveflow.deep_archive import index
from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.request import parse_request
from archiveflow.deep_archive.s3io import get_jsonl

pytestmark = pytest.mark.integration


def unzip_into_empty_folder(aws, bundle_key: str, tmp_path: Path) -> Path:
    """`unzip -t` passes and an extraction into an empty folder writes nothing outside it."""
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(aws.read_archived(bundle_key))
    tested = subprocess.run(["unzip", "-t", str(bundle)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    out = tmp_path / "out" / "inner"
    out.mkdir(parents=True)
    extracted = subprocess.run(["unzip", "-q", "-n", str(bundle), "-d", str(out)], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL)
    assert extracted.returncode == 0, extracted.stdout + extracted.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["inner"]  # nothing written beside the folder
    return out


def extracted_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def hostile_keys(prefix: str) -> dict[str, bytes]:
    cafe = "café.txt"
    names = [
        "a/b", "a//b", "a", "dir/", "dir/inside.txt", unicodedata.normalize("NFC", cafe),
        unicodedata.normalize("NFD", cafe), "back\\slash.txt", "back/slash.txt", "x/../../../escape.txt",
        "x/./dot.txt", "x/dot.txt", "ctrl\x01char\x7f.txt", "tab\there.txt", "..", "./a/b",
        "README", "readme", "a~1", "%2E%2E",
    ]
    return {f"{prefix}{name}": f"body of {name!r}".encode() for name in names}


def test_every_key_comes_back_out_of_the_bundle_under_a_safe_unique_member_name(aws, tmp_path):
    prefix = aws.unique("names") + "/"
    files = hostile_keys(prefix)
    files[f"{prefix[:-1]}//leading-slash-below-the-prefix"] = b"double slash"
    document = make_plan(aws, files, prefix[:-1])
    (unit,) = document["units"]
    run_plan(aws, document)

    items = {item["source_key"]: item for item in aws.index_items(prefix[:-1])}
    assert set(items) == set(files)  # the index keeps every original key...
    names = [item["member_name"] for item in items.values()]
    assert len(set(names)) == len(names)  # ...and a member name of its own
    folder = unzip_into_empty_folder(aws, unit["archive_key"], tmp_path)
    out = extracted_files(folder)
    assert len(out) == len(files)  # exactly one file per member
    assert {key: out[item["member_name"]] for key, item in items.items()} == files
    with aws.open_bundle(unit["archive_key"]) as archive:
        for info in archive.infolist():
            assert info.flag_bits & 0x800, info.filename  # UTF-8 flag on every name
            parts = info.filename.split("/")
            assert info.filename == unicodedata.normalize("NFC", info.filename)
            assert "" not in parts and "." not in parts and ".." not in parts and "\\" not in info.filename
            assert not any(ord(c) < 32 or ord(c) == 127 for c in info.filename)


def test_a_key_too_long_for_an_archive_key_gets_a_short_derived_one(aws):
    prefix = aws.unique("long") + "/"
    long_key = prefix + "d" * 200 + "/" + "é" * 380 + ".bin"  # ~1,000 bytes: fine as a source key
    assert len(long_key.encode()) <= 1024
    files = {long_key: os.urandom(1_100_000), prefix + "small.txt": b"small"}  # > archive_size: on its own
    aws.upload(files)
    request = parse_request({"project_name": prefix[:-1], "bucket_name": aws.source, "prefix": prefix,
                             "archive_size": 1, "output_prefix": "tests/" + "o" * 150}, aws.archive)
    document = planner.plan(aws.s3, aws.dynamodb, [request], plan_id=aws.unique("p"), plan_bucket=aws.archive,
                            index_table=aws.index.name)
    (obj,) = [u for u in document["units"] if u["kind"] == "object"]
    assert len(obj["archive_key"].encode()) <= 1024
    run_plan(aws, document)
    item = next(i for i in aws.index_items(prefix[:-1]) if i["archive_format"] == "object")
    assert item["source_key"] == long_key and item["archive_key"] == obj["archive_key"]
    assert aws.read_archived(obj["archive_key"]) == files[long_key]


def test_overlapping_sources_are_planned_once(aws):
    prefix = aws.unique("overlap") + "/"
    files = {f"{prefix}{sub}f{i}.txt": b"x%d" % i for sub in ("", "2026/", "2026/11/") for i in range(5)}
    aws.upload(files)
    conf = {"project_name": prefix[:-1], "bucket_name": aws.source, "file_count": 4, "archive_size": 1,
            "output_prefix": f"tests/{prefix[:-1]}"}
    requests = [parse_request({**conf, "prefix": p}, aws.archive)
                for p in (prefix, f"{prefix}2026/", f"{prefix}2026/", f"{prefix}2026/11/")]
    document = planner.plan(aws.s3, aws.dynamodb, requests, plan_id=aws.unique("p"), plan_bucket=aws.archive,
                            index_table=aws.index.name)
    planned = Counter(row["key"] for unit in document["units"]
                      for row in get_jsonl(aws.s3, aws.archive, unit["manifest"]))
    assert planned == Counter(list(files))
    assert document["totals"]["files"] == len(files)


def test_a_failed_unit_does_not_stop_the_other_units_of_its_child(aws):
    prefix = aws.unique("fail") + "/"
    files = {f"{prefix}f{i:02d}.txt": b"file %d" % i for i in range(9)}
    document = make_plan(aws, files, prefix, file_count=3)
    assert [u["files"] for u in document["units"]] == [3, 3, 3]
    first, broken, last = document["units"]
    # one child packs all three (as when a plan has more units than Batch's 10,000 children)
    aws.s3.put_object(Bucket=aws.archive, Key=planner.plan_key(document["plan_id"]),
                      Body=json.dumps({**document, "array_size": 1}).encode())
    # rewritten between plan and pack: refused (If-Match); an object gone is only left out (test_inventory_plan.py)
    aws.s3.put_object(Bucket=aws.source, Key=f"{prefix}f04.txt", Body=b"rewritten since the plan")
    process = start_worker(aws, document)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0, output
    assert "1 of 3 units failed" in output and f"unit {broken['unit']}" in output, output
    done = {item["archive_key"] for item in aws.index_items(prefix.rstrip("/"))}
    assert done == {first["archive_key"], last["archive_key"]}


def test_a_rewritten_object_is_archived_again_and_every_version_is_kept(aws):
    prefix = aws.unique("rewrite") + "/"
    key = f"{prefix}report.csv"
    files = {key: b"v1", f"{prefix}other.csv": b"other"}
    first = make_plan(aws, files, prefix)
    run_plan(aws, first)
    aws.upload({key: b"version two"})  # rewritten after it was packed
    second = make_plan(aws, {}, prefix)
    assert second["totals"]["files"] == 1 and second["totals"]["indexed"] == 1
    run_plan(aws, second)
    third = make_plan(aws, {}, prefix)  # nothing changed since: nothing to do
    assert third["units"] == [] and third["totals"]["indexed"] == 2

    newest = index.lookup(aws.dynamodb, aws.index.name, aws.source, key)
    assert newest["archive_key"] == second["units"][0]["archive_key"] and newest["newest"] is True
    versions = index.versions(aws.dynamodb, aws.index.name, aws.source, key)
    assert [v["archive_key"] for v in versions] == [u["units"][0]["archive_key"] for u in (first, second)]
    assert versions[-1]["version"] == newest["version"]
    older = index.lookup(aws.dynamodb, aws.index.name, aws.source, key, version=versions[0]["version"])
    with aws.open_bundle(older["archive_key"]) as archive:
        assert archive.read(older["member_name"]) == b"v1"
    with aws.open_bundle(newest["archive_key"]) as archive:
        assert archive.read(newest["member_name"]) == b"version two"
    assert Counter(i["source_key"] for i in aws.index_items(prefix[:-1])) == Counter(list(files))  # newest only


def test_bundles_unzip_cleanly_with_the_real_unzip(aws, tmp_path):
    prefix = aws.unique("plain") + "/"
    files = {f"{prefix}d{i % 3}/f{i}.json": b'{"n": %d}' % i * (i % 20) for i in range(60)}
    document = make_plan(aws, files, prefix)
    run_plan(aws, document)
    out = extracted_files(unzip_into_empty_folder(aws, document["units"][0]["archive_key"], tmp_path))
    assert out == files  # ordinary keys keep their names unchanged
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        assert archive.testzip() is None

"""S3 Inventory reports in place of a listing: the three formats read alike, manifests checked."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiveflow.deep_archive import inventory
from archiveflow.deep_archive.request import parse_request
from archiveflow.errors import BadRequest
from devstack.inventory_report import write_report

MODIFIED = datetime(2026, 11, 6, 21, 32, 19, tzinfo=UTC)
KEYS = ["data/b c.txt", "data/a+b.txt", "data/é/x.bin", "other/z.txt", "data/a"]


class FolderS3:
    """A report served from a folder: `download_file` and the manifest's `get_object` only."""

    class exceptions:  # noqa: N801 - boto3's spelling
        ClientError = OSError

    def __init__(self, files: dict[str, Path], manifest: dict):
        self.files, self.manifest = files, manifest

    def download_file(self, bucket: str, key: str, target: str) -> None:
        assert bucket == "reports"
        shutil.copy(self.files[key], target)

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's spelling
        return {"Body": _Body(json.dumps(self.manifest).encode())}


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data


def _report(tmp_path: Path, file_format: str, **changes) -> FolderS3:
    objects = [{"key": key, "size": n, "e_tag": f"etag{n}", "last_modified_date": MODIFIED,
                "storage_class": "GLACIER" if n == 4 else "STANDARD"} for n, key in enumerate(KEYS)]
    manifest, files = write_report(tmp_path, "src-bucket", "reports", objects, file_format, rows_per_file=2)
    return FolderS3(files, {**manifest, **changes})


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_a_report_gives_the_prefix_objects_in_key_order_as_a_listing_would(tmp_path, file_format):
    s3 = _report(tmp_path, file_format)
    manifest = inventory.read_manifest(s3, "s3://reports/inv/manifest.json", "src-bucket")
    pages = list(inventory.pages(s3, manifest, "data/", page=2))
    objects = [obj for page in pages for obj in page]
    assert [len(page) for page in pages] == [2, 2]
    assert [o["Key"] for o in objects] == ["data/a", "data/a+b.txt", "data/b c.txt", "data/é/x.bin"]
    assert objects[0] == {"Key": "data/a", "Size": 4, "ETag": '"etag4"', "LastModified": MODIFIED,
                          "StorageClass": "GLACIER"}


@pytest.mark.parametrize(("changes", "says"), [
    ({"sourceBucket": "other"}, "inventory of bucket 'other'"),
    ({"fileFormat": "JSON"}, "format 'JSON'"),
    ({"fileSchema": "Bucket, Key, Size"}, "lacks the fields ['last_modified_date', 'e_tag']"),
    ({"files": None}, "no files list"),
])
def test_a_manifest_that_cannot_be_planned_from_is_refused_naming_the_field(tmp_path, changes, says):
    s3 = _report(tmp_path, "CSV", **changes)
    with pytest.raises(BadRequest, match="inventory_manifest") as err:
        inventory.read_manifest(s3, "s3://reports/inv/manifest.json", "src-bucket")
    assert says in str(err.value)


@pytest.mark.parametrize("uri", ["reports/manifest.json", "s3://reports/inv/data.csv.gz", "s3://Bad_Bucket/manifest.json"])
def test_the_request_refuses_what_is_not_a_manifest_uri(uri):
    conf = {"project_name": "p", "bucket_name": "src-bucket", "prefix": "data/", "inventory_manifest": uri}
    with pytest.raises(BadRequest, match="inventory_manifest"):
        parse_request(conf, "archive-bucket")
    assert parse_request({**conf, "inventory_manifest": "s3://reports/inv/2026-11-06T00-00Z/manifest.json"},
                         "archive-bucket").inventory_manifest.endswith("manifest.json")

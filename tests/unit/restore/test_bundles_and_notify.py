"""Restore requests (the 409 path), tier rules, the SNS message and its manifest fallback, cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from archiveflow.errors import BadRequest
from archiveflow.restore import bundles, cost, notify

BUNDLE = {"bucket": "archive", "key": "p/bundle.zip", "storage_class": "DEEP_ARCHIVE", "size": 2 * 1024**3,
          "archive_status": None, "status": bundles.NONE}


def stubbed_s3():
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return s3, Stubber(s3)


def test_a_restore_already_in_progress_409_counts_as_requested():
    s3, stub = stubbed_s3()
    stub.add_response("head_object", {"StorageClass": "DEEP_ARCHIVE", "ContentLength": 10},
                      {"Bucket": "archive", "Key": "p/bundle.zip"})
    stub.add_client_error("restore_object", service_error_code="RestoreAlreadyInProgress", http_status_code=409)
    with stub:
        assert bundles.request_restore(s3, BUNDLE, "Bulk", 3) == bundles.IN_PROGRESS
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("header", "status"), [('ongoing-request="true"', bundles.IN_PROGRESS),
                                                ('ongoing-request="false", expiry-date="x"', bundles.AVAILABLE)])
def test_no_paid_request_when_a_restore_exists(header, status):
    s3, stub = stubbed_s3()
    stub.add_response("head_object", {"StorageClass": "GLACIER", "ContentLength": 10, "Restore": header})
    with stub:  # a restore_object call would fail: none is stubbed
        assert bundles.request_restore(s3, BUNDLE, "Standard", 3) == status


def test_other_errors_are_raised():
    s3, stub = stubbed_s3()
    stub.add_response("head_object", {"StorageClass": "GLACIER", "ContentLength": 10})
    stub.add_client_error("restore_object", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(s3.exceptions.ClientError):
        bundles.request_restore(s3, BUNDLE, "Standard", 3)


def test_expedited_is_refused_for_deep_archive_naming_the_tiers_that_exist():
    with pytest.raises(BadRequest, match="Standard, Bulk") as caught:
        bundles.check_tier(BUNDLE, "Expedited")
    assert caught.value.field == "retrieval_tier"
    bundles.check_tier({**BUNDLE, "storage_class": "GLACIER"}, "Expedited")
    bundles.check_tier({**BUNDLE, "storage_class": "GLACIER_IR", "status": bundles.NOT_NEEDED}, "Expedited")


@pytest.mark.parametrize(("head", "status"), [
    ({"StorageClass": "GLACIER_IR"}, bundles.NOT_NEEDED), ({"StorageClass": "STANDARD_IA"}, bundles.NOT_NEEDED),
    ({"StorageClass": "INTELLIGENT_TIERING"}, bundles.NOT_NEEDED),
    ({"StorageClass": "INTELLIGENT_TIERING", "ArchiveStatus": "DEEP_ARCHIVE_ACCESS"}, bundles.NONE),
    ({"StorageClass": "DEEP_ARCHIVE"}, bundles.NONE),
])
def test_which_classes_need_a_restore(head, status):
    assert bundles.restore_status(head) == status


def message(count: int) -> dict:
    restored = [{"source": f"src/reports/file-{i:06d}.csv", "bucket": "restore", "key": f"reports/file-{i:06d}.csv",
                 "size": 100, "url": "https://example/" + "x" * 400} for i in range(count)]
    return notify.build_message("run-1", restored, [], datetime(2026, 1, 2, tzinfo=UTC))


def test_a_message_over_256_kb_links_a_manifest_instead():
    small = message(3)
    assert json.loads(notify.publishable(small))["restored"] == small["restored"]
    big = message(1000)
    assert notify.publishable(big) is None
    text = notify.publishable(big, manifest_url="https://example/manifest")
    assert len(text.encode()) < notify.SNS_MAX_BYTES
    assert json.loads(text)["manifest_url"] == "https://example/manifest"
    assert json.loads(text)["restored_count"] == 1000


def test_links_expire_with_temporary_credentials_and_say_so():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert notify.link_lifetime(3, None, now) == (3 * 86400, now + timedelta(days=3))
    assert notify.link_lifetime(30, None, now)[0] == 7 * 86400  # SigV4's maximum
    role_expiry = now + timedelta(hours=1)
    assert notify.link_lifetime(3, role_expiry, now)[1] == role_expiry
    assert "temporary" in message(1)["note"] and message(1)["links_expire_at"] == "2026-01-02T00:00:00+00:00"


def test_cost_bills_retrieval_only_for_bundles_it_restores():
    price = cost.estimate([BUNDLE, {**BUNDLE, "status": bundles.IN_PROGRESS}], "Bulk", 7, 3)
    assert price["bundles_restored"] == 1
    assert price["retrieval_usd"] == {"DEEP_ARCHIVE": round(2 * 0.0025 + 0.025 / 1000, 6)}
    assert price["total_usd"] > price["retrieval_usd"]["DEEP_ARCHIVE"]


def test_an_available_copy_expiring_before_the_run_needs_it_is_extended_not_left_to_expire():
    soon = datetime.now(UTC) + timedelta(hours=2)
    header = f'ongoing-request="false", expiry-date="{soon:%a, %d %b %Y %H:%M:%S GMT}"'
    needed_until = datetime.now(UTC) + timedelta(hours=96)
    s3, stub = stubbed_s3()
    stub.add_response("head_object", {"StorageClass": "DEEP_ARCHIVE", "ContentLength": 10, "Restore": header})
    stub.add_response("restore_object", {}, {"Bucket": "archive", "Key": "p/bundle.zip", "RestoreRequest": {
        "Days": 7, "GlacierJobParameters": {"Tier": "Bulk"}}})
    with stub:
        assert bundles.request_restore(s3, BUNDLE, "Bulk", 7, needed_until=needed_until) == "extended"
    stub.assert_no_pending_responses()
    # A copy that lasts long enough is left alone (no paid request).
    later = datetime.now(UTC) + timedelta(days=6)
    s3, stub = stubbed_s3()
    stub.add_response("head_object", {"StorageClass": "DEEP_ARCHIVE", "ContentLength": 10, "Restore":
                                      f'ongoing-request="false", expiry-date="{later:%a, %d %b %Y %H:%M:%S GMT}"'})
    with stub:
        assert bundles.request_restore(s3, BUNDLE, "Bulk", 7, needed_until=needed_until) == bundles.AVAILABLE

"""Restore planning and comparison without services: S3 listings on botocore's Stubber (AWS
shapes), typed-value comparison, number keys normalised as DynamoDB does."""

from __future__ import annotations

import datetime as dt

import pytest

from archiveflow.dynamodb_archive.records import comparable_item
from archiveflow.dynamodb_archive.restore import archive_versions, plan, typed_key
from archiveflow.dynamodb_archive.restore_request import parse_request

WHEN = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture
def s3(stub):
    return stub("s3")


def version(key: str, version_id: str) -> dict:
    return {"Key": key, "VersionId": version_id, "IsLatest": False, "LastModified": WHEN, "Size": 10}


def test_restoring_one_item_lists_only_its_own_key(s3):
    client, stubber = s3
    key = "Orders/PK_order-5.json"
    stubber.add_response("list_object_versions", {"IsTruncated": False, "Versions": [
        version(key, "v2"), version(key, "v1"), version("Orders/PK_order-5.json.json", "other")]},
        {"Bucket": "b", "Prefix": key})
    entries = plan(client, "b", parse_request({"table": "Orders", "keys": [{"PK": "order-5"}]}), ["PK"], {"PK": "S"})
    assert entries == [{"key": key, "version_id": "v2"}]


def test_a_number_key_given_as_1e16_finds_the_archive_dynamodb_named(s3):
    client, stubber = s3
    key = "Orders/PK_10000000000000000.json"
    stubber.add_response("list_object_versions", {"IsTruncated": False, "Versions": [version(key, "v1")]},
                         {"Bucket": "b", "Prefix": key})
    entries = plan(client, "b", parse_request({"table": "Orders", "keys": [{"PK": 1e16}]}), ["PK"], {"PK": "N"})
    assert entries == [{"key": key, "version_id": "v1"}]


def test_a_whole_table_listing_is_given_key_by_key_before_the_next_page_is_read(s3):
    client, stubber = s3
    stubber.add_response("list_object_versions", {
        "IsTruncated": True, "NextKeyMarker": "Orders/PK_b.json", "NextVersionIdMarker": "b1",
        "Versions": [version("Orders/PK_a.json", "a2"), version("Orders/PK_a.json", "a1"),
                     version("Orders/PK_b.json", "b1")]}, {"Bucket": "b", "Prefix": "Orders/"})
    listing = archive_versions(client, "b", "Orders/")
    key, versions = next(listing)  # no second page asked for yet (the Stubber holds none)
    assert (key, [v["VersionId"] for v in versions]) == ("Orders/PK_a.json", ["a2", "a1"])
    stubber.add_response("list_object_versions", {"IsTruncated": False, "Versions": [
        version("Orders/PK_b.json", "b0"), version("Orders/PK_c.json", "c1")]},
        {"Bucket": "b", "Prefix": "Orders/", "KeyMarker": "Orders/PK_b.json", "VersionIdMarker": "b1"})
    rest = [(k, [v["VersionId"] for v in vs]) for k, vs in listing]
    assert rest == [("Orders/PK_b.json", ["b1", "b0"]), ("Orders/PK_c.json", ["c1"])]  # b spans two pages


@pytest.mark.parametrize(("given", "stored"), [(5.0, "5"), (1e16, "10000000000000000"), (5, "5"), (-0.0, "0"),
                                               (0.1, "0.1"), (12345678901234567890123, "12345678901234567890123"),
                                               (2.50, "2.5")])
def test_number_keys_are_normalised_as_dynamodb_stores_them(given, stored):
    assert typed_key({"PK": given}, {"PK": "N"}, "keys[0]") == {"PK": {"N": stored}}


def test_items_compare_by_typed_value_not_by_attribute_name():
    assert comparable_item({"SS": {"S": "active"}}) != comparable_item({"SS": {"S": "banned"}})
    assert comparable_item({"NS": {"M": {"a": {"S": "x"}}}}) != comparable_item({"NS": {"M": {"a": {"S": "y"}}}})
    assert comparable_item({"tags": {"SS": ["b", "a"]}}) == comparable_item({"tags": {"SS": ["a", "b"]}})
    assert comparable_item({"n": {"NS": ["1.0", "2"]}, "x": {"N": "5.00"}}) == comparable_item(
        {"n": {"NS": ["2", "1"]}, "x": {"N": "5"}})
    assert comparable_item({"l": {"L": [{"N": "1"}, {"S": "2"}]}}) != comparable_item({"l": {"L": [{"S": "2"}, {"N": "1"}]}})
    assert comparable_item({"b": {"BS": [b"\x01", b"\x00"]}}) == comparable_item({"b": {"BS": [b"\x00", b"\x01"]}})
    assert comparable_item({"v": {"N": "1"}}) != comparable_item({"v": {"S": "1"}})

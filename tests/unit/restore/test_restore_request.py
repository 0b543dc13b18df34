"""The s3_restore request: the seed's /restore payload, its placeholders refused naming the field."""

from __future__ import annotations

import pytest

from archiveflow.errors import BadRequest
from archiveflow.restore.request import MAX_FILES, parse_request

BUCKETS = {"restore_bucket": "archiveflow-restore", "archive_bucket": "archiveflow-archive"}
SEED_SAMPLE = {"project_name": "amazon", "filename": "5000_20240517_003.csv", "account": "1234567890",
               "region": "ap-south-1", "retrieval_tier": "Expedited", "sns_topic_arn": "ARN"}


def refused(conf: dict) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_request(conf, **BUCKETS)
    return caught.value.field


def test_the_seed_payload_with_real_values_is_accepted():
    conf = {**SEED_SAMPLE, "account": "123456789012", "region": "us-east-1",
            "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:archiveflow-notifications"}
    request = parse_request(conf, **BUCKETS)
    assert request.names == ("5000_20240517_003.csv",) and request.name_fields == ("filename",)
    assert (request.retrieval_tier, request.restore_bucket, request.destination_prefix) == (
        "Expedited", "archiveflow-restore", "")


@pytest.mark.parametrize(("placeholder", "value"), [("account", "1234567890"), ("sns_topic_arn", "ARN")])
def test_the_seed_samples_placeholders_are_refused_naming_the_field(placeholder, value):
    conf = {**SEED_SAMPLE, "account": "123456789012", "sns_topic_arn": None, placeholder: value}
    assert refused(conf) == placeholder


def test_files_list_names_each_entry_and_is_bounded():
    request = parse_request({"project_name": "p", "filename": "a.csv", "files": ["b.csv", "bkt/k/c.csv"],
                             "destination_prefix": "restores/2026/"}, **BUCKETS)
    assert request.name_fields == ("filename", "files[0]", "files[1]")
    assert request.destination_prefix == "restores/2026/"
    assert refused({"project_name": "p", "files": ["x"] * (MAX_FILES + 1)}) == "files"
    assert refused({"project_name": "p", "files": ["ok", "bad\x00name"]}) == "files[1]"


@pytest.mark.parametrize(("conf", "field"), [
    ({}, "filename"),
    ({"filename": "bare.csv"}, "project_name"),
    ({"filename": "b/k", "retrieval_tier": "Fast"}, "retrieval_tier"),
    ({"filename": "b/k", "restore_days": 0}, "restore_days"),
    ({"filename": "b/k", "restore_bucket": "archiveflow-archive"}, "restore_bucket"),
    ({"filename": "b/k", "destination_prefix": "../up"}, "destination_prefix"),
    ({"filename": "b/k", "max_wait": 0}, "max_wait"),
    ({"filename": "b/k", "restore_days": 3}, "restore_days"),  # expires before max_wait (72 h) + extraction
    ({"filename": "b/k", "restore_days": 5, "max_wait": 120}, "restore_days"),
    ({"filename": "b/k", "version": 0}, "version"),
    ({"filename": "b/k", "sns_topic_arn": "arn:aws:sns:us-east-1:12:t"}, "sns_topic_arn"),
])
def test_bad_input_names_the_field(conf, field):
    assert refused(conf) == field

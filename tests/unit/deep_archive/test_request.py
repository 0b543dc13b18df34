"""Bad input is refused before anything runs: by the trigger form (Param schema) or by the request check."""

from __future__ import annotations

import copy
import os

import pytest

from archiveflow.deep_archive.cost import estimate
from archiveflow.deep_archive.request import FIELDS, parse_request
from archiveflow.errors import BadRequest

GOOD = {"project_name": "amazon", "bucket_name": "src-bucket", "prefix": "20250410", "file_count": 50000,
        "archive_size": 500, "account": "123456789012", "region": "us-east-1", "storage_class": "GLACIER",
        "output_prefix": "amazon-20240410"}


def test_the_seed_payload_is_accepted_as_is():
    request = parse_request(GOOD, "archive-bucket")
    assert (request.storage_class, request.archive_bucket, request.output_prefix) == (
        "GLACIER", "archive-bucket", "amazon-20240410")
    assert parse_request({**GOOD, "storage_class": "DEEP_ARCHIVE"}, "a").storage_class == "DEEP_ARCHIVE"
    assert all(f.title and f.description and f.section for f in FIELDS.values())


@pytest.mark.parametrize(("field", "value"), [
    ("bucket_name", None), ("prefix", ""), ("prefix", None), ("project_name", "no spaces please"),
    ("file_count", 0), ("file_count", 100_001), ("file_count", "10"), ("archive_size", 0),
    ("archive_size", 10**6), ("storage_class", "GLACIAL"), ("region", "Mars-1"), ("account", "1234"),
    ("output_prefix", "../escape"), ("output_prefix", "_plans"), ("output_prefix", "_plans/mine"),
    ("output_prefix", "_anything/reserved"), ("output_prefix", "a" * 201), ("storage_class", None), ("delete_source", "false"), ("account", 123456789012),
    ("retention_months", 0), ("retention_months", 1201), ("retention_months", "84"),
])
def test_a_bad_field_is_named(field, value):
    with pytest.raises(BadRequest) as err:
        parse_request({**GOOD, field: value}, "archive-bucket")
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), "../../../dags/s3_deep_archive.py"))
    return bag.dags["s3_deep_archive"]


@pytest.mark.parametrize("conf", [
    {"storage_class": "GLACIAL"}, {"file_count": 0}, {"archive_size": 200_000}, {"prefix": ""},
    {"account": "1234567890"}, {"dry_run": "yes"}, {"retention_months": 0},
])
def test_the_trigger_form_refuses_what_the_schema_can_express(dag, conf):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    params.validate()  # the defaults pass (a scheduled run has no conf)
    with pytest.raises(ParamValidationError, match=next(iter(conf))):
        for key, value in conf.items():
            params[key] = value


def test_bundling_small_files_costs_less_than_moving_them_one_by_one():
    # one million 20 KB files into Deep Archive, in 1,000 bundles
    costs = estimate("DEEP_ARCHIVE", 1_000_000, 20 * 10**9, 1000, 16 * 2**20)
    assert costs["monthly_after_usd"] < costs["monthly_lifecycle_usd"] < costs["monthly_before_usd"]
    assert costs["one_off_after_usd"] < costs["one_off_lifecycle_usd"] / 10

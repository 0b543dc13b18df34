"""Resolving s3_deep_archive's sources on the local stack: bad input fails naming the field before
any write; the monthly run reads the Variable (or the YAML default) and skips what is done."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pendulum
import pytest

from archiveflow import resources
from archiveflow.deep_archive.runs import record_run
from archiveflow.errors import BadRequest
from archiveflow.operators.deep_archive import (
    ARCHIVE_BUCKETS_VARIABLE,
    MONTHLY_SOURCES_VARIABLE,
    ResolveArchiveSourcesOperator,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def conf(aws):
    return {"project_name": aws.unique("check"), "bucket_name": aws.source, "prefix": "x/", "file_count": 10,
            "archive_size": 1}


def resolve(conf: dict, run_type: str = "manual", month: str = "2026-11-10"):
    context = {"params": conf, "run_id": "r", "dag_run": SimpleNamespace(
        run_type=run_type, run_after=pendulum.parse(month))}
    return ResolveArchiveSourcesOperator(task_id="resolve_sources").run(context)


@pytest.mark.parametrize(("change", "field"), [
    ({"bucket_name": "no-such-bucket-archiveflow"}, "bucket_name"),
    ({"bucket_name": resources.bucket("archive")}, "bucket_name"),  # archiving the archive: forbidden
    ({"bucket_name": resources.bucket("reports")}, "bucket_name"),  # another archiveflow bucket
    ({"archive_bucket": "no-such-archive-bucket"}, "archive_bucket"),
    ({"archive_bucket": resources.bucket("warehouse")}, "archive_bucket"),  # not an archive bucket
    ({"archive_bucket": resources.bucket("lakehouse")}, "archive_bucket"),
    ({"archive_bucket": resources.bucket("source")}, "archive_bucket"),  # the source itself
    ({"output_prefix": "_plans"}, "output_prefix"),  # the plan cleanup would delete the bundles
    ({"region": "eu-west-1"}, "region"),
    ({"account": "999999999999"}, "account"),
    ({"prefix": ""}, "prefix"),
    ({"prefix": None}, "prefix"),
    ({"storage_class": "COLD"}, "storage_class"),
])
def test_bad_input_fails_naming_the_field_and_writes_nothing(aws, conf, change, field):
    before = aws.keys(aws.archive, "_plans/")
    with pytest.raises(BadRequest, match=f"^{field}: "):
        resolve({**conf, **change})
    assert aws.keys(aws.archive, "_plans/") == before


def test_the_archive_bucket_must_be_one_of_the_deployments_archive_buckets(aws, conf, monkeypatch):
    other = aws.unique("archive-extra")
    aws.s3.create_bucket(Bucket=other)
    with pytest.raises(BadRequest, match=f"^archive_bucket: {other} is not one of the deployment's archive buckets"):
        resolve({**conf, "archive_bucket": other})
    monkeypatch.setenv(f"AIRFLOW_VAR_{ARCHIVE_BUCKETS_VARIABLE.upper()}", json.dumps([aws.archive, other]))
    (request,) = resolve({**conf, "archive_bucket": other})
    assert request["archive_bucket"] == other
    # listing the warehouse as an archive bucket does not make it one: its own cleanup could delete bundles
    monkeypatch.setenv(f"AIRFLOW_VAR_{ARCHIVE_BUCKETS_VARIABLE.upper()}",
                       json.dumps([aws.archive, resources.bucket("warehouse")]))
    with pytest.raises(BadRequest, match="^archive_bucket: "):
        resolve({**conf, "archive_bucket": resources.bucket("warehouse")})


def test_good_input_comes_back_complete(aws, conf):
    (request,) = resolve(conf)
    assert request["archive_bucket"] == aws.archive and request["storage_class"] == "DEEP_ARCHIVE"


def test_the_monthly_run_reads_the_variable_and_skips_a_source_archived_this_month(aws, conf, local_stack,
                                                                                    monkeypatch):
    done, due = {**conf, "prefix": aws.unique("done") + "/"}, {**conf, "prefix": aws.unique("due") + "/"}
    monkeypatch.setenv(f"AIRFLOW_VAR_{MONTHLY_SOURCES_VARIABLE.upper()}", json.dumps([done, due]))
    runs = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    record_run(runs, aws.s3, resources.bucket("reports"), "manual__qc-trigger", "2026-11", {"plan_id": "p1", "totals": {"files": 3}, "cost": {"x": 0.5},
                                                       "requests": resolve(done)})
    assert [s["prefix"] for s in resolve({}, "scheduled", "2026-11-10")] == [due["prefix"]]
    assert [s["prefix"] for s in resolve({}, "scheduled", "2026-12-10")] == [done["prefix"], due["prefix"]]


def test_the_monthly_list_is_checked_like_a_conf(aws, conf, monkeypatch):
    """A string "false" is no boolean: refused naming the entry, not read as True."""
    monkeypatch.setenv(f"AIRFLOW_VAR_{MONTHLY_SOURCES_VARIABLE.upper()}",
                       json.dumps([conf, {**conf, "delete_source": "false"}]))
    with pytest.raises(BadRequest, match=r"sources\[1\]\.delete_source: 'false' is not of type 'boolean'"):
        resolve({}, "scheduled")


def test_an_empty_monthly_list_archives_nothing(monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_VAR_{MONTHLY_SOURCES_VARIABLE.upper()}", "[]")
    assert resolve({}, "scheduled") == []

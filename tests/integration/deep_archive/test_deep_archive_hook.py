"""DeepArchiveHook on the local stack: bad input fails before any write; the monthly run skips what is done."""

from __future__ import annotations

import pytest
from airflow.exceptions import AirflowFailException

from archiveflow import resources
from archiveflow.hooks.deep_archive import DeepArchiveHook

pytestmark = pytest.mark.integration


@pytest.fixture
def conf(aws):
    return {"project_name": aws.unique("check"), "bucket_name": aws.source, "prefix": "x/", "file_count": 10,
            "archive_size": 1}


@pytest.mark.parametrize(("change", "field"), [
    ({"bucket_name": "no-such-bucket-archiveflow"}, "bucket_name"),
    ({"bucket_name": resources.bucket("archive")}, "bucket_name"),  # archiving the archive: forbidden
    ({"bucket_name": resources.bucket("reports")}, "bucket_name"),  # another archiveflow bucket
    ({"archive_bucket": "no-such-archive-bucket"}, "archive_bucket"),
    ({"region": "eu-west-1"}, "region"),
    ({"account": "999999999999"}, "account"),
    ({"prefix": ""}, "prefix"),
    ({"storage_class": "COLD"}, "storage_class"),
])
def test_bad_input_fails_naming_the_field_and_writes_nothing(aws, conf, change, field):
    before = aws.keys(aws.archive, "_plans/")
    with pytest.raises(AirflowFailException, match=f"^{field}: "):
        DeepArchiveHook().validate([{**conf, **change}])
    assert aws.keys(aws.archive, "_plans/") == before


def test_good_input_comes_back_complete(aws, conf):
    (request,) = DeepArchiveHook().validate([conf])
    assert request["archive_bucket"] == aws.archive and request["storage_class"] == "DEEP_ARCHIVE"


def test_the_monthly_run_skips_a_source_archived_this_month(aws, conf, tmp_path):
    done, due = {**conf, "prefix": aws.unique("done") + "/"}, {**conf, "prefix": aws.unique("due") + "/"}
    sources = tmp_path / "monthly_sources.yaml"
    sources.write_text("sources:\n" + "".join(
        f"  - {{project_name: {s['project_name']}, bucket_name: {s['bucket_name']}, prefix: {s['prefix']}, "
        f"file_count: 10, archive_size: 1}}\n" for s in (done, due)))
    hook = DeepArchiveHook()
    hook.record("manual__qc-trigger", "2026-11", {"plan_id": "p1", "totals": {"files": 3}, "cost": {"x": 0.5},
                                                 "requests": hook.validate([done])})
    assert [s["prefix"] for s in hook.due_monthly_sources(sources, "2026-11")] == [due["prefix"]]
    assert [s["prefix"] for s in hook.due_monthly_sources(sources, "2026-12")] == [done["prefix"], due["prefix"]]

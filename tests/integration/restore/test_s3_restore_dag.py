"""Acceptance of s3_restore on the local stack (dag.test): bundles made by the packer, files restored
byte-identical, only them, one SNS message, the run and its cost recorded."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request

import pytest
from boto3.dynamodb.conditions import Key
from tests.integration.restore.conftest import located, pack

from archiveflow import resources
from archiveflow.restore.extract import destination_key
from archiveflow.restore.runs import RUN_PK

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), "../../../dags/s3_restore.py"))
    assert bag.import_errors == {}
    return bag.dags["s3_restore"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_three_files_in_two_bundles_restore_byte_identical(aws, airflow_db, dag, topic_queue, local_stack):
    project = aws.unique("restore")
    text = b"id,reading\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(400))  # deflated
    files = {f"{project}/a/5000_20240517_001.csv": text,
             f"{project}/a/5000_20240517_002.bin": os.urandom(3000),  # stored
             f"{project}/b/5000_20240517_003.csv": text[::-1] + b"\n",
             f"{project}/b/5000_20240517_004.csv": b"not asked for"}
    document = pack(aws, files, project, file_count=2)  # 2 files a bundle: 2 bundles
    assert [unit["files"] for unit in document["units"]] == [2, 2]
    asked = sorted(files)[:3]
    topic, received = topic_queue
    account = local_stack.client("sts").get_caller_identity()["Account"]
    prefix = f"tests/{project}"
    # The seed's /restore payload (bare file name, Expedited from GLACIER) plus two full keys.
    conf = {"project_name": project, "filename": "5000_20240517_003.csv", "account": account,
            "region": "us-east-1", "retrieval_tier": "Expedited", "sns_topic_arn": topic,
            "files": [f"{aws.source}/{key}" for key in asked[:2]], "destination_prefix": prefix}

    run = dag.test(run_conf=conf)
    assert run.state == "success"

    restored = aws.keys(resources.bucket("restore"), prefix)
    destinations = {f.source_key: destination_key(f, f"{prefix}/") for f in located(aws, project, asked)}
    assert sorted(restored) == sorted(destinations.values())
    for key in asked:
        body = aws.s3.get_object(Bucket=resources.bucket("restore"), Key=destinations[key])["Body"].read()
        assert sha(body) == sha(files[key])

    (body,) = received()
    message = json.loads(body)
    assert message["outcome"] == "succeeded" and message["failed"] == []
    assert sorted(r["source"] for r in message["restored"]) == sorted(f"{aws.source}/{k}" for k in asked)
    first = message["restored"][0]
    with urllib.request.urlopen(first["url"], timeout=10) as response:  # the presigned URL works
        assert response.read() == files[first["source"].split("/", 1)[1]]
    assert message["links_expire_at"]

    runs = aws.dynamodb.Table(resources.dynamodb_table("runs"))
    (item,) = runs.query(KeyConditionExpression=Key("pk").eq(RUN_PK.format(run_id=run.run_id)))["Items"]
    assert item["outcome"] == "succeeded" and int(item["files"]) == 3
    assert item["cost"]["tier"] == "Expedited" and int(item["cost"]["bundles_restored"]) == 2
    assert float(item["cost"]["retrieval_usd"]["GLACIER"]) > 0


def test_bad_input_fails_at_look_up_naming_the_field(aws, local_stack):
    project = aws.unique("badinput")
    files = {f"{project}/x/report.csv": b"a\n1\n", f"{project}/y/report.csv": b"a\n2\n"}
    pack(aws, files, project, storage_class="DEEP_ARCHIVE")
    account = local_stack.client("sts").get_caller_identity()["Account"]
    cases = {
        "filename": {"project_name": project, "filename": "report.csv"},  # ambiguous: two archived files
        "files[0]": {"project_name": project, "files": ["missing.csv"]},
        "retrieval_tier": {"filename": f"{aws.source}/{project}/x/report.csv", "retrieval_tier": "Expedited"},
        "sns_topic_arn": {"filename": f"{aws.source}/{project}/x/report.csv",
                          "sns_topic_arn": "arn:aws:sns:us-east-1:999999999999:elsewhere"},
        "account": {"filename": f"{aws.source}/{project}/x/report.csv", "account": "1234567890"},
        "region": {"filename": f"{aws.source}/{project}/x/report.csv", "account": account, "region": "ap-south-1"},
        # A restore never writes into a source (an old version would replace the live object) nor
        # into a bucket outside the allow-list.
        "restore_bucket": {"filename": f"{aws.source}/{project}/x/report.csv", "restore_bucket": aws.source},
    }
    from archiveflow.errors import BadRequest
    from archiveflow.operators.restore import LookUpFilesOperator

    for field, conf in cases.items():
        with pytest.raises(BadRequest) as caught:
            LookUpFilesOperator(task_id="look_up").run({"params": conf})
        assert caught.value.field == field, (field, str(caught.value))
    unlisted = {"filename": f"{aws.source}/{project}/x/report.csv", "restore_bucket": "some-other-bucket"}
    with pytest.raises(BadRequest, match="not one of the deployment's restore buckets"):
        LookUpFilesOperator(task_id="look_up").run({"params": unlisted})
    assert "Standard, Bulk" in str(pytest.raises(BadRequest, LookUpFilesOperator(task_id="look_up").run,
                                                 {"params": cases["retrieval_tier"]}).value)
    bundles = {item["archive_key"] for item in aws.index_items(project)}
    assert bundles and all("Restore" not in aws.s3.head_object(Bucket=aws.archive, Key=b) for b in bundles)


def test_a_dry_run_looks_up_and_prices_only(aws, local_stack):
    from airflow.sdk.exceptions import AirflowSkipException

    from archiveflow.operators.restore import LookUpFilesOperator, RequestRestoresOperator

    project = aws.unique("dryrun")
    pack(aws, {f"{project}/d/one.csv": b"1\n", f"{project}/d/two.csv": b"2\n"}, project, storage_class="DEEP_ARCHIVE")
    plan = LookUpFilesOperator(task_id="look_up").run(
        {"params": {"project_name": project, "files": ["one.csv", "two.csv"], "retrieval_tier": "Bulk",
                    "dry_run": True}})
    assert len(plan["files"]) == 2 and plan["cost"]["bundles_restored"] == 1
    assert plan["cost"]["retrieval_usd"]["DEEP_ARCHIVE"] > 0
    with pytest.raises(AirflowSkipException):
        RequestRestoresOperator(task_id="request_restores", plan=plan).run({})
    head = aws.s3.head_object(Bucket=aws.archive, Key=plan["bundles"][0]["key"])
    assert "Restore" not in head  # no restore was requested

"""The deploy command: uploads on the emulator's S3 (a versioned bucket, over HTTP); CloudFormation
and MWAA with botocore's Stubber (the emulator runs neither an MWAA environment nor its stack)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.stub import ANY, Stubber

from deploy.bundle import build
from deploy.to_mwaa import DeployError, Deployment

pytestmark = pytest.mark.integration

STACK = "archiveflow-dev"
ENVIRONMENT = "archiveflow-dev-env"
VERSION_KEYS = {"plugins.zip": "PluginsS3ObjectVersion", "requirements.txt": "RequirementsS3ObjectVersion",
                "startup.sh": "StartupScriptS3ObjectVersion"}


@pytest.fixture
def bucket(local_stack):
    s3 = local_stack.client("s3")
    name = f"mwaa-source-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="dags/retired_dag.py", Body=b"# a DAG no longer in the bundle")
    return name


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build(tmp_path_factory.mktemp("deploy") / "mwaa")


def stubbed(service):
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def stack(bucket, versions=None, status="UPDATE_COMPLETE"):
    versions = versions or {}
    parameters = [{"ParameterKey": p, "ParameterValue": versions.get(p, "")} for p in VERSION_KEYS.values()]
    parameters += [{"ParameterKey": "Environment", "ParameterValue": "dev"},
                   {"ParameterKey": "NamePrefix", "ParameterValue": "archiveflow"}]
    return {"Stacks": [{"StackName": STACK, "StackStatus": status, "CreationTime": "2026-12-01T00:00:00Z",
                        "Parameters": parameters,
                        "Outputs": [{"OutputKey": "MwaaSourceBucketName", "OutputValue": bucket}]}]}


def stack_reads(cfn, bucket, versions=None):
    cfn.add_response("describe_stacks", stack(bucket, versions), {"StackName": STACK})
    cfn.add_response("describe_stack_resources", {"StackResources": [
        {"LogicalResourceId": "Environment", "PhysicalResourceId": ENVIRONMENT, "ResourceType": "AWS::MWAA::Environment",
         "ResourceStatus": "UPDATE_COMPLETE", "Timestamp": "2026-12-01T00:00:00Z"}]}, {"StackName": STACK})


def change_set(cfn):
    cfn.add_response("create_change_set", {"Id": "arn:cs/1", "StackId": "arn:stack/1"}, {
        "StackName": STACK, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "UsePreviousTemplate": True,
        "Parameters": ANY, "Capabilities": ANY, "Description": ANY})
    cfn.add_response("describe_change_set", {"Status": "CREATE_IN_PROGRESS"}, {"ChangeSetName": "arn:cs/1"})
    cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [{"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": "Environment", "ResourceType": "AWS::MWAA::Environment"}}]},
        {"ChangeSetName": "arn:cs/1"})


def sent_parameters(cfn_client) -> list:
    sent = []
    cfn_client.meta.events.register("provide-client-params.cloudformation.CreateChangeSet",
                                    lambda params, **_: sent.append(params["Parameters"]))
    return sent


def object_versions(s3, bucket, key):
    return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]


def test_deploy_uploads_updates_the_stack_waits_and_a_second_deploy_changes_nothing(local_stack, bucket, bundle):
    s3 = local_stack.client("s3")
    cfn_client, cfn = stubbed("cloudformation")
    mwaa_client, mwaa = stubbed("mwaa")
    sent = sent_parameters(cfn_client)
    stack_reads(cfn, bucket)
    change_set(cfn)
    cfn.add_response("execute_change_set", {}, {"ChangeSetName": "arn:cs/1"})
    cfn.add_response("describe_stacks", stack(bucket, status="UPDATE_IN_PROGRESS"), {"StackName": STACK})
    cfn.add_response("describe_stacks", stack(bucket), {"StackName": STACK})
    mwaa.add_response("get_environment", {"Environment": {"Status": "UPDATING"}}, {"Name": ENVIRONMENT})
    mwaa.add_response("get_environment", {"Environment": {"Status": "AVAILABLE"}}, {"Name": ENVIRONMENT})
    deployment = Deployment(STACK, s3, cfn_client, mwaa_client, sleep=lambda _: None)
    with cfn, mwaa:
        report = deployment.run(bundle)
        cfn.assert_no_pending_responses()
        mwaa.assert_no_pending_responses()

    versions = {VERSION_KEYS[key]: object_versions(s3, bucket, key)[0] for key in VERSION_KEYS}
    assert sent == [[{"ParameterKey": p, "ParameterValue": v} for p, v in versions.items()]
                    + [{"ParameterKey": "Environment", "UsePreviousValue": True},
                       {"ParameterKey": "NamePrefix", "UsePreviousValue": True}]]
    assert {k: new for k, (_, new) in report.parameters.items()} == versions
    assert set(VERSION_KEYS) <= set(report.uploaded) and "dags/constraints.txt" in report.uploaded
    assert report.deleted == ["dags/retired_dag.py"]
    assert s3.get_object(Bucket=bucket, Key="dags/include/sql/rdbms_archival/" + next(
        p.name for p in (bundle.dags / "include/sql/rdbms_archival").iterdir()))["Body"].read()
    assert report.changes == ["Modify Environment (AWS::MWAA::Environment)"]
    assert report.outcome == f"environment {ENVIRONMENT} is AVAILABLE"

    cfn_client, cfn = stubbed("cloudformation")  # the same bundle again: nothing to do
    stack_reads(cfn, bucket, versions)
    with cfn:
        again = Deployment(STACK, s3, cfn_client, mwaa_client, sleep=lambda _: None).run(bundle)
    assert (again.uploaded, again.deleted, again.parameters) == ([], [], {})
    assert "already uses these versions" in again.outcome
    assert all(len(object_versions(s3, bucket, key)) == 1 for key in VERSION_KEYS)


def test_dry_run_leaves_dags_alone_and_deletes_its_change_set(local_stack, bucket, bundle):
    s3 = local_stack.client("s3")
    cfn_client, cfn = stubbed("cloudformation")
    stack_reads(cfn, bucket)
    change_set(cfn)
    cfn.add_response("delete_change_set", {}, {"ChangeSetName": "arn:cs/1"})  # and no execute_change_set
    with cfn:
        report = Deployment(STACK, s3, cfn_client, None, sleep=lambda _: None).run(bundle, dry_run=True)
        cfn.assert_no_pending_responses()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dags/")["Contents"]]
    assert keys == ["dags/retired_dag.py"]  # the live dags prefix is untouched
    assert "delete dags/retired_dag.py" in report.dags_pending and "upload dags/constraints.txt" in report.dags_pending
    assert sorted(report.uploaded) == sorted(VERSION_KEYS)  # new versions, named by no stack yet
    assert report.outcome.startswith("dry run")


def test_a_failed_environment_update_fails_the_deploy(local_stack, bucket, bundle):
    s3 = local_stack.client("s3")
    cfn_client, cfn = stubbed("cloudformation")
    mwaa_client, mwaa = stubbed("mwaa")
    stack_reads(cfn, bucket)
    change_set(cfn)
    cfn.add_response("execute_change_set", {}, {"ChangeSetName": "arn:cs/1"})
    cfn.add_response("describe_stacks", stack(bucket), {"StackName": STACK})
    mwaa.add_response("get_environment", {"Environment": {"Status": "UPDATE_FAILED", "LastUpdate": {
        "Error": {"ErrorCode": "INCORRECT_CONFIGURATION", "ErrorMessage": "pip install failed"}}}}, {"Name": ENVIRONMENT})
    with cfn, mwaa, pytest.raises(DeployError, match="UPDATE_FAILED.*pip install failed"):
        Deployment(STACK, s3, cfn_client, mwaa_client, sleep=lambda _: None).run(bundle)


def test_an_unversioned_bucket_is_refused_before_any_upload(local_stack, bundle):
    s3 = local_stack.client("s3")
    name = f"mwaa-plain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    cfn_client, cfn = stubbed("cloudformation")
    cfn.add_response("describe_stacks", stack(name), {"StackName": STACK})
    with cfn, pytest.raises(DeployError, match="not versioned"):
        Deployment(STACK, s3, cfn_client, None).run(bundle)
    assert "Contents" not in s3.list_objects_v2(Bucket=name)

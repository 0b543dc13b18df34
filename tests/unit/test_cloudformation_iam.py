"""Least privilege, measured: the roles of the CloudFormation template allow every AWS call the
integration and end-to-end tests saw the code make, and nothing it never made.

moto does not enforce IAM, so the calls are recorded (devstack/aws_calls.py, a botocore hook, during
every test session; tests/conftest.py fails a session that makes a call missing from
mwaa/cloudformation/aws-calls.json) and compared here with the roles' statements."""

from __future__ import annotations

import copy
from fnmatch import fnmatchcase

import pytest

from archiveflow import resources
from devstack import aws_calls, provision
from devstack import template as cfn

CALLS_FILE = cfn.TEMPLATE_FILE.with_name("aws-calls.json")
ROLES = {"execution": "MwaaExecutionRole", "batch-job": "BatchJobRole"}
# Calls on resources a run's conf names (the user's source buckets, tracked tables and the tables
# restored into, sensor streams, a restore's notification topic, a table given to the index
# migration): not the stack's, so granted by the policies the platform team attaches
# through the DataAccessPolicyArns parameter (README: "What each role may do"). These actions only:
DATA_ACCESS_ACTIONS = {
    "s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject",
    "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject",
    "dynamodb:DescribeTable", "dynamodb:ListStreams", "dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords",
    "dynamodb:Query", "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem", "dynamodb:UpdateTable", "dynamodb:ConditionCheckItem",
    "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords",
    "kinesis:PutRecords", "sns:Publish",
}
# Granted without a recorded call, each for a reason the emulator cannot show.
NOT_RECORDABLE = {
    "UseTheKey": "S3/DynamoDB/SNS/SQS/Kinesis use the KMS key on the caller's behalf; moto calls no KMS",
    "AthenaQueries": "the emulator runs no Athena query: the local lakehouse engine is DuckDB",
    "AthenaResults": "what Athena writes and reads on the caller's behalf (same reason)",
    "AthenaWritesLakehouseTables": "what Athena's Iceberg writes need beyond the recorded calls (same reason)",
    "AthenaPlansDeepArchives": "the SQL plan's Athena table of an inventory report (same reason)",
    "IcebergFilesThroughPyArrow": "pyiceberg reads and writes table files through pyarrow's S3 filesystem, not botocore",
}
OURS = aws_calls.OURS


def calls() -> set[tuple[str, str, str]]:
    return aws_calls.load_committed(CALLS_FILE)


def statements(template: dict, role: str) -> list[dict]:
    resolver = cfn.Resolver(template, {**provision.LOCAL_PARAMETERS, "NamePrefix": resources.DEFAULT_PREFIX})
    found = []
    for policy in resolver.resolve(template["Resources"][ROLES[role]]["Properties"]["Policies"]):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and not statement.get("Sid", "").startswith("Mwaa"):
                as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
                found.append({"Sid": statement.get("Sid"), "Action": as_list(statement["Action"]),
                              "Resource": as_list(statement["Resource"])})
    return found


def allowed(statement: dict, action: str, resource: str) -> bool:
    if not any(fnmatchcase(action.lower(), a.lower()) for a in statement["Action"]):
        return False
    # "*": the call names no resource the hook could read (GetRecords by shard iterator...): any
    # statement allowing the action will do, and for actions without resource-level permissions
    # that statement's resource is "*".
    return resource == "*" or any(fnmatchcase(resource, r) for r in statement["Resource"])


def not_allowed(template: dict) -> list[str]:
    missing = []
    granted = {role: statements(template, role) for role in ROLES}
    for role, action, resource in sorted(calls()):
        if resource == aws_calls.CONF_NAMED:
            if action not in DATA_ACCESS_ACTIONS:
                missing.append(f"{role}: {action} on a conf-named resource")
            continue
        if not any(allowed(s, action, resource) for s in granted[role]):
            missing.append(f"{role}: {action} on {resource}")
    return missing


def never_called(template: dict) -> list[str]:
    unused = []
    for role in ROLES:
        recorded = [(a, r) for rl, a, r in calls() if rl == role]
        for statement in statements(template, role):
            if statement["Sid"] in NOT_RECORDABLE:
                continue
            for action in statement["Action"]:
                for resource in statement["Resource"]:
                    if not any(fnmatchcase(a.lower(), action.lower()) and (r == "*" or fnmatchcase(r, resource))
                               for a, r in recorded):
                        unused.append(f"{role} {statement['Sid']}: {action} on {resource}")
    return unused


def test_the_recording_knows_the_stacks_names():
    assert aws_calls.STACK_PREFIX == resources.DEFAULT_PREFIX
    assert aws_calls.generalised("execution", "s3:GetObject", "arn:aws:s3:::it-src-1a2b3c4d/*")[2] == aws_calls.CONF_NAMED
    assert aws_calls.generalised("execution", "s3:GetObject", "arn:aws:s3:::archiveflow-archive/*")[2] != \
        aws_calls.CONF_NAMED


def test_the_roles_allow_every_call_the_code_makes():
    assert len(calls()) > 50  # the committed list is a real recording
    assert not_allowed(cfn.decoded()) == []


def test_the_roles_allow_nothing_the_code_never_calls():
    assert never_called(cfn.decoded()) == []


def test_a_missing_permission_is_caught():
    broken = copy.deepcopy(cfn.decoded())
    dag_statements = broken["Resources"]["MwaaExecutionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"]
    dag_statements[:] = [s for s in dag_statements if s["Sid"] != "DeadLetterQueue"]
    assert "execution: sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:archiveflow-dead-letter" in not_allowed(broken)


@pytest.mark.parametrize("role", ["MwaaExecutionRole", "BatchJobRole"])
def test_a_permission_never_used_is_caught(role):
    broken = copy.deepcopy(cfn.decoded())
    broken["Resources"][role]["Properties"]["Policies"][-1]["PolicyDocument"]["Statement"].append(
        {"Sid": "Extra", "Effect": "Allow", "Action": "s3:DeleteBucket", "Resource": {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}})
    assert any(u.endswith("Extra: s3:DeleteBucket on arn:aws:s3:::archiveflow-archive") for u in never_called(broken))

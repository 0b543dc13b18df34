"""The CloudFormation template (mwaa/cloudformation/archiveflow.yaml), checked on the template itself
as cfn-lint decodes it: names the code uses, security properties, the MWAA environment, cfn-lint,
and that the local stack (devstack/provision.py) reads it the same way and drops nothing silently."""

from __future__ import annotations

import ast
import copy
import functools
import json
import re
from pathlib import Path

import pytest

from archiveflow import resources
from archiveflow.deep_archive import index
from archiveflow.deep_archive.migrate_index import VERSION_INDEX_KEY
from devstack import provision
from devstack import template as cfn

REPO = Path(__file__).resolve().parents[2]
KEY_ARN = {"Fn::GetAtt": ["Key", "Arn"]}
VERSIONED_BUCKETS = {  # buckets whose code relies on versions
    "StreamArchiveBucket": "an item deleted twice keeps one archived version per deletion",
    "MwaaSourceBucket": "MWAA deploys plugins/requirements/startup script by S3 object version",
}
# resources.<function>(...) -> the template resource type whose names it yields.
NAME_KINDS = {
    "bucket": "AWS::S3::Bucket", "dynamodb_table": "AWS::DynamoDB::Table", "glue_database": "AWS::Glue::Database",
    "kinesis_stream": "AWS::Kinesis::Stream", "sns_topic": "AWS::SNS::Topic", "sqs_queue": "AWS::SQS::Queue",
    "athena_workgroup": "AWS::Athena::WorkGroup", "batch_job_definition": "AWS::Batch::JobDefinition",
    "batch_job_queue": "AWS::Batch::JobQueue", "batch_compute_environment": "AWS::Batch::ComputeEnvironment",
}
YAML_KINDS = {"s3_buckets": "bucket", "dynamodb_tables": "dynamodb_table", "glue_databases": "glue_database",
              "kinesis_streams": "kinesis_stream", "sns_topics": "sns_topic", "sqs_queues": "sqs_queue",
              "athena_workgroups": "athena_workgroup"}


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn.decoded()


def local_names(template: dict) -> dict[str, set[str]]:
    resolver = cfn.Resolver(template, {**provision.LOCAL_PARAMETERS, "NamePrefix": resources.DEFAULT_PREFIX})
    return cfn.physical_names(resolver)


@functools.cache
def names_used_by_the_code() -> frozenset[tuple[str, str]]:
    """(resources function, logical name) of every resources.<function>("literal") in dags/ and plugins/."""
    used = set()
    for path in [*(REPO / "dags").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "resources"
                    and node.func.attr in NAME_KINDS):
                literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if literal or not node.args:  # a name in a variable comes from resources.yaml, checked below
                    used.add((node.func.attr, literal[0] if literal else ""))
    return frozenset(used)


def missing_names(template: dict, wanted: frozenset[tuple[str, str]]) -> list[str]:
    names = local_names(template)
    missing = []
    for function, logical in sorted(wanted):
        physical = getattr(resources, function)(*([logical] if logical else []))
        if physical not in names.get(NAME_KINDS[function], set()):
            missing.append(f"{function}({logical!r}) = {physical}")
    return missing


def test_the_code_and_resources_yaml_name_only_resources_the_template_creates(template):
    used = names_used_by_the_code()
    assert ("bucket", "archive") in used and ("batch_job_queue", "") in used  # the scan finds calls
    declared = {(YAML_KINDS[kind], name) for kind, names in resources.declared().items() if kind in YAML_KINDS
                for name in names}
    declared |= {("batch_job_definition", name) for name in resources.declared()["batch"]["job_definitions"]}
    assert missing_names(template, used | declared) == []


def test_a_resource_removed_from_the_template_is_caught(template):
    broken = copy.deepcopy(template)
    del broken["Resources"]["DeadLetterQueue"]
    del broken["Resources"]["DeadLetterQueueDepthAlarm"]
    assert missing_names(broken, names_used_by_the_code()) == ["sqs_queue('dead-letter') = archiveflow-dead-letter"]


def security_problems(template: dict) -> list[str]:  # noqa: C901 - one flat list of rules
    """Every security property the issue asks of the template, as a list of what is wrong."""
    problems = []
    found = template["Resources"]
    of_type = lambda kind: cfn.resources_of_type(template, kind)  # noqa: E731
    keys = of_type("AWS::KMS::Key")
    if [k["Properties"].get("EnableKeyRotation") for k in keys.values()] != [True]:
        problems.append("one KMS key, rotated")
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
                for p in of_type("AWS::S3::BucketPolicy").values()}
    for name, bucket in of_type("AWS::S3::Bucket").items():
        p = bucket["Properties"]
        default = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0].get(
            "ServerSideEncryptionByDefault", {})
        logs_bucket = any(b["Properties"].get("LoggingConfiguration", {}).get("DestinationBucketName") == {"Ref": name}
                          for b in of_type("AWS::S3::Bucket").values())
        if logs_bucket:  # S3 server access logs cannot be delivered to an SSE-KMS bucket
            if default.get("SSEAlgorithm") != "AES256":
                problems.append(f"{name}: log bucket not encrypted")
        elif default != {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}:
            problems.append(f"{name}: not encrypted with the KMS key")
        elif "LoggingConfiguration" not in p:
            problems.append(f"{name}: no access logs")
        if p.get("PublicAccessBlockConfiguration") != dict.fromkeys(
                ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True):
            problems.append(f"{name}: public access not blocked")
        if name in VERSIONED_BUCKETS and p.get("VersioningConfiguration") != {"Status": "Enabled"}:
            problems.append(f"{name}: not versioned")
        rules = p.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(r.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1} and r.get("Prefix") == ""
                   for r in rules):
            problems.append(f"{name}: incomplete multipart uploads never aborted")
        tls = [s for s in policies.get(name, []) if s["Effect"] == "Deny" and s["Action"] == "s3:*"
               and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and len(s["Resource"]) == 2]
        if not tls:
            problems.append(f"{name}: no TLS-only bucket policy")
    archive_rules = found["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    if any("ExpirationInDays" in r and r["Prefix"] != "_plans/" for r in archive_rules) or not any(
            r["Prefix"] == "_plans/" and "ExpirationInDays" in r for r in archive_rules):
        problems.append("ArchiveBucket: bundles must never expire, _plans/ must")
    if not any("ExpirationInDays" in r for r in found["RestoreBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]):
        problems.append("RestoreBucket: restored copies never expire")
    for name, table in of_type("AWS::DynamoDB::Table").items():
        p = table["Properties"]
        if p.get("PointInTimeRecoverySpecification") != {"PointInTimeRecoveryEnabled": True}:
            problems.append(f"{name}: no point-in-time recovery")
        if p.get("SSESpecification") != {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}:
            problems.append(f"{name}: not encrypted with the KMS key")
    for kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
        for name, resource in of_type(kind).items():
            if resource["Properties"].get("KmsMasterKeyId") != KEY_ARN:
                problems.append(f"{name}: no KmsMasterKeyId")
    if found["DeadLetterQueue"]["Properties"].get("MessageRetentionPeriod") != 1209600:
        problems.append("DeadLetterQueue: retention below SQS's maximum (14 days)")
    for name, stream in of_type("AWS::Kinesis::Stream").items():
        if stream["Properties"].get("StreamEncryption") != {"EncryptionType": "KMS", "KeyId": KEY_ARN}:
            problems.append(f"{name}: not encrypted with the KMS key")
    for name, group in of_type("AWS::Athena::WorkGroup").items():
        configuration = group["Properties"]["WorkGroupConfiguration"]
        if not configuration.get("EnforceWorkGroupConfiguration") or configuration["ResultConfiguration"].get(
                "EncryptionConfiguration") != {"EncryptionOption": "SSE_KMS", "KmsKey": KEY_ARN}:
            problems.append(f"{name}: results not encrypted, or the encryption not enforced")
    alarms = of_type("AWS::CloudWatch::Alarm")
    watched = json.dumps(alarms)
    for needle in ("TaskInstanceFailures", "DAGDurationFailed", '"DeadLetterQueue"'):
        if needle not in watched:
            problems.append(f"no alarm on {needle}")
    for name, alarm in alarms.items():
        if [found[a["Ref"]]["Type"] for a in alarm["Properties"].get("AlarmActions", [])] != ["AWS::SNS::Topic"]:
            problems.append(f"{name}: does not notify an SNS topic")
    for name, role in of_type("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if statement["Effect"] == "Allow" and any(a == "*" or a.endswith(":*") for a in actions):
                    problems.append(f"{name}: {statement.get('Sid')} allows every action of a service")
    return problems


def test_the_template_meets_every_security_property(template):
    assert security_problems(template) == []


@pytest.mark.parametrize("breakage, problem", [
    (lambda t: t["Resources"]["ReportsBucket"]["Properties"].pop("BucketEncryption"),
     "ReportsBucket: not encrypted with the KMS key"),
    (lambda t: t["Resources"]["StreamArchiveBucket"]["Properties"].pop("VersioningConfiguration"),
     "StreamArchiveBucket: not versioned"),
    (lambda t: t["Resources"]["RunsTable"]["Properties"].pop("PointInTimeRecoverySpecification"),
     "RunsTable: no point-in-time recovery"),
    (lambda t: t["Resources"].pop("LakehouseBucketPolicy"), "LakehouseBucket: no TLS-only bucket policy"),
    (lambda t: t["Resources"]["MwaaExecutionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"].append(
        {"Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
     "MwaaExecutionRole: Everything allows every action of a service"),
    (lambda t: t["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"].append(
        {"Id": "x", "Status": "Enabled", "Prefix": "", "ExpirationInDays": 30}),
     "ArchiveBucket: bundles must never expire, _plans/ must"),
])
def test_a_weakened_template_is_caught(template, breakage, problem):
    broken = copy.deepcopy(template)
    breakage(broken)
    assert problem in security_problems(broken)


def test_every_star_resource_says_why():
    """Resource "*" only where AWS requires it, and a comment on the line says why."""
    lines = cfn.TEMPLATE_FILE.read_text().splitlines()
    stars = [line for line in lines if re.search(r"""Resource: ["']\*["']""", line)]
    assert stars and all("#" in line.split('"*"', 1)[1] for line in stars), stars


def test_the_mwaa_environment_logs_encrypts_and_keeps_its_web_server_private(template):
    """checkov's MWAA checks exist for Terraform only: ours, on the template."""
    (environment,) = cfn.resources_of_type(template, "AWS::MWAA::Environment").values()
    p = environment["Properties"]
    assert p["AirflowVersion"] == "3.3.1"
    assert p["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert p["KmsKey"] == KEY_ARN
    assert p["LoggingConfiguration"] == {kind: {"Enabled": True, "LogLevel": "INFO"} for kind in (
        "DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")}
    assert p["NetworkConfiguration"] == {"SubnetIds": {"Ref": "PrivateSubnetIds"},
                                         "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}
    # The deploy command's contract: objects by version, in the bucket the stack outputs.
    for kind, path in (("Plugins", "plugins.zip"), ("Requirements", "requirements.txt"), ("StartupScript", "startup.sh")):
        assert p[f"{kind}S3Path"] == path and p[f"{kind}S3ObjectVersion"] == {"Ref": f"{kind}S3ObjectVersion"}
    assert p["DagS3Path"] == "dags" and p["SourceBucketArn"] == {"Fn::GetAtt": ["MwaaSourceBucket", "Arn"]}
    assert template["Outputs"]["MwaaSourceBucketName"]["Value"] == {"Ref": "MwaaSourceBucket"}
    assert {"Environment", "NamePrefix", "PythonPackageSource"} <= set(template["Parameters"])
    assert template["Parameters"]["Environment"]["AllowedValues"] == ["dev", "stage", "prod"]


def test_cfn_lint_finds_nothing():
    from cfnlint.api import lint_file

    assert [str(m) for m in lint_file(cfn.TEMPLATE_FILE)] == []


def test_the_local_stack_reads_the_template_as_cfn_lint_does(template):
    assert json.loads(json.dumps(cfn.raw())) == json.loads(json.dumps(template))


def test_the_local_stack_applies_every_property_or_says_why_not(template):
    differences = provision.LOCAL_DIFFERENCES
    unexplained = []
    for name, resource in template["Resources"].items():
        kind = resource["Type"]
        if (kind, "*") in differences:
            continue
        if kind not in provision.CREATORS:
            unexplained.append(f"{name}: {kind}")
            continue
        unexplained += [f"{name}.{p}" for p in resource.get("Properties", {})
                        if p not in provision.APPLIED[kind] and (kind, p) not in differences and ("*", p) not in differences]
    assert unexplained == []


def test_the_migrations_index_key_is_the_templates(template):
    (gsi,) = [g for g in template["Resources"]["ArchiveIndexTable"]["Properties"]["GlobalSecondaryIndexes"]
              if g["IndexName"] == index.BY_FILE_VERSION]
    attributes = {a["AttributeName"]: a["AttributeType"]
                  for a in template["Resources"]["ArchiveIndexTable"]["Properties"]["AttributeDefinitions"]}
    assert {k["AttributeName"]: attributes[k["AttributeName"]] for k in gsi["KeySchema"]} == VERSION_INDEX_KEY


def test_lifecycle_rules_become_the_api_form():
    rule = {"Id": "expire-bundle-plans", "Status": "Enabled", "Prefix": "_plans/", "ExpirationInDays": 30}
    assert provision.lifecycle_rule(rule) == {"ID": "expire-bundle-plans", "Status": "Enabled",
                                              "Filter": {"Prefix": "_plans/"}, "Expiration": {"Days": 30}}

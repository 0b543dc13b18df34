"""Create the local stack from the CloudFormation template (mwaa/cloudformation/archiveflow.yaml).

The template is the one source of truth: on AWS it is deployed as a stack; here each of its
resources is created through the emulator's API with the template's own properties, resolved
for this stack's name prefix. Idempotent: a second run changes nothing.

Not moto's CloudFormation: moto 5.2.5 reaches CREATE_COMPLETE while dropping bucket versioning,
lifecycle rules, public access blocks and point-in-time recovery, and skips Glue and Athena, so
its result would need a second pass over the same properties anyway. Every property the template
uses is either applied below (APPLIED) or named in LOCAL_DIFFERENCES with the reason it is not;
tests/unit/test_cloudformation.py fails on a property or resource type in neither.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import ClientError

from archiveflow import resources
from archiveflow.deep_archive.migrate_index import add_global_index
from devstack import template as cfn

log = logging.getLogger(__name__)

# The properties applied here, by resource type.
APPLIED = {
    "AWS::KMS::Key": {"Description", "EnableKeyRotation", "KeyPolicy"},
    "AWS::KMS::Alias": {"AliasName", "TargetKeyId"},
    "AWS::IAM::Role": {"AssumeRolePolicyDocument", "Policies"},
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption", "PublicAccessBlockConfiguration", "VersioningConfiguration",
                        "OwnershipControls", "LifecycleConfiguration"},
    "AWS::DynamoDB::Table": {"TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                             "StreamSpecification", "PointInTimeRecoverySpecification", "SSESpecification"},
    "AWS::Glue::Database": {"DatabaseInput"},
    "AWS::Kinesis::Stream": {"Name", "ShardCount", "StreamEncryption", "RetentionPeriodHours"},
    "AWS::SNS::Topic": {"TopicName", "KmsMasterKeyId"},
    "AWS::SQS::Queue": {"QueueName", "MessageRetentionPeriod", "KmsMasterKeyId"},
    "AWS::Athena::WorkGroup": {"Name", "WorkGroupConfiguration"},
    "AWS::Logs::LogGroup": {"LogGroupName", "KmsKeyId", "RetentionInDays"},
    "AWS::Batch::ComputeEnvironment": {"ComputeEnvironmentName", "State"},
    "AWS::Batch::JobQueue": {"JobQueueName", "State", "Priority", "ComputeEnvironmentOrder"},
    "AWS::Batch::JobDefinition": {"JobDefinitionName", "Type", "ContainerProperties", "RetryStrategy", "Timeout",
                                  "PlatformCapabilities", "PropagateTags"},
}
# What the local stack leaves out, and why ("*" = every property, or every type).
LOCAL_DIFFERENCES = {
    ("AWS::MWAA::Environment", "*"): "Airflow runs on this machine (devstack), not in MWAA",
    ("AWS::CloudWatch::Alarm", "*"): "nothing publishes MWAA's metrics here",
    ("AWS::S3::BucketPolicy", "*"): "the emulator speaks plain HTTP: the TLS-only policy would deny every request"
                                   " (moto evaluates bucket policies)",
    ("*", "Tags"): "tags carry nothing the code reads",
    ("AWS::S3::Bucket", "LoggingConfiguration"): "server access logs of every test request would only slow the emulator",
    ("AWS::IAM::Role", "ManagedPolicyArns"): "the user's data policies: nothing to attach here",
    ("AWS::Glue::Database", "CatalogId"): "the emulator's account is the catalog",
    ("AWS::SNS::Topic", "Subscription"): "no e-mail here",
    ("AWS::Athena::WorkGroup", "State"): "ENABLED is the default",
    ("AWS::Batch::ComputeEnvironment", "Type"): "no Fargate here: UNMANAGED, jobs run by the local runner (hooks/batch.py)",
    ("AWS::Batch::ComputeEnvironment", "ComputeResources"): "no Fargate here (see Type)",
}
SERVICES = ("kms", "iam", "logs", "s3", "dynamodb", "glue", "kinesis", "sns", "sqs", "athena", "batch")
LOCAL_PARAMETERS = {"Environment": "dev", "PrivateSubnetIds": ["subnet-local-a", "subnet-local-b"],
                    "SecurityGroupIds": ["sg-local"], "DataAccessPolicyArns": [], "PluginsS3ObjectVersion": "local",
                    "RequirementsS3ObjectVersion": "local", "StartupScriptS3ObjectVersion": "local"}
ORDER = ["AWS::KMS::Key", "AWS::KMS::Alias", "AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::S3::Bucket",
         "AWS::DynamoDB::Table", "AWS::Glue::Database", "AWS::Kinesis::Stream",
         "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::Athena::WorkGroup", "AWS::Batch::ComputeEnvironment",
         "AWS::Batch::JobQueue", "AWS::Batch::JobDefinition"]


def provision(endpoint_url: str, region: str = "us-east-1") -> None:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    clients = {service: session.client(service, endpoint_url=endpoint_url) for service in SERVICES}
    _configure_batch(endpoint_url)
    template = cfn.raw()
    resolver = cfn.Resolver(template, {**LOCAL_PARAMETERS, "NamePrefix": resources.name_prefix()}, region)

    def create(kind: str, logical_id: str, resource: dict) -> None:
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            return
        properties = resolver.resolve(resource.get("Properties", {}))
        created = CREATORS[kind](clients.__getitem__, logical_id, properties, resolver)
        if created:
            resolver.physical[logical_id] = created

    # One type after another (later ones refer to earlier ones); the resources of a type at once:
    # the emulator answers requests in parallel, and this runs at the start of every test session.
    with ThreadPoolExecutor(max_workers=8) as pool:
        for kind in ORDER:
            for done in [pool.submit(create, kind, logical_id, resource)
                         for logical_id, resource in cfn.resources_of_type(template, kind).items()]:
                done.result()
    log.info("provisioned %s from %s", endpoint_url, cfn.TEMPLATE_FILE.name)


def _configure_batch(endpoint_url: str) -> None:
    # Without Docker, moto must be told to "run" jobs without containers (STACK-NOTES.md).
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/config", data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def _key(client, logical_id, p, resolver) -> dict:
    kms = client("kms")
    alias = next((r["Properties"]["AliasName"] for r in cfn.resources_of_type(resolver.template, "AWS::KMS::Alias").values()
                  if r["Properties"]["TargetKeyId"] == {"Ref": logical_id}), None)
    alias = resolver.resolve(alias)
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        key = kms.create_key(Description=p.get("Description", ""), Policy=json.dumps(p["KeyPolicy"]))["KeyMetadata"]
        if p.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
    return {"Ref": key["KeyId"], "Arn": key["Arn"]}


def _alias(client, logical_id, p, resolver) -> None:
    kms = client("kms")
    if not any(a["AliasName"] == p["AliasName"] for a in kms.list_aliases()["Aliases"]):
        kms.create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])


def _role(client, logical_id, p, resolver) -> dict:
    iam = client("iam")
    name = f"{resources.name_prefix()}-{logical_id}"
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    for policy in p.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"]))
    return {"Ref": name, "Arn": arn}


def _log_group(client, logical_id, p, resolver) -> None:
    logs = client("logs")
    try:
        logs.create_log_group(logGroupName=p["LogGroupName"], kmsKeyId=p["KmsKeyId"])
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=p["LogGroupName"], retentionInDays=int(p["RetentionInDays"]))


def _bucket(client, logical_id, p, resolver) -> None:
    s3, name = client("s3"), p["BucketName"]
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
         **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})}
        for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
    if "PublicAccessBlockConfiguration" in p:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in p:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
    if "VersioningConfiguration" in p:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
    if "LifecycleConfiguration" in p:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
            "Rules": [lifecycle_rule(rule) for rule in p["LifecycleConfiguration"]["Rules"]]})


def lifecycle_rule(rule: dict) -> dict:
    """put_bucket_lifecycle_configuration's form of one template lifecycle rule."""
    spec: dict = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    for same in ("AbortIncompleteMultipartUpload", "NoncurrentVersionExpiration"):
        if same in rule:
            spec[same] = {k: int(v) for k, v in rule[same].items()}
    if "ExpirationInDays" in rule:
        spec["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    return spec


def _table(client, logical_id, p, resolver) -> None:
    dynamodb, name = client("dynamodb"), p["TableName"]
    if name in dynamodb.list_tables()["TableNames"]:
        for index in p.get("GlobalSecondaryIndexes", []):  # indexes declared since the table was made
            key = {k["AttributeName"]: next(a["AttributeType"] for a in p["AttributeDefinitions"]
                                             if a["AttributeName"] == k["AttributeName"]) for k in index["KeySchema"]}
            add_global_index(dynamodb, name, index["IndexName"], key)
    else:
        dynamodb.create_table(**dynamodb_table_spec(p))
    if p.get("PointInTimeRecoverySpecification"):
        dynamodb.update_continuous_backups(TableName=name,
                                           PointInTimeRecoverySpecification=p["PointInTimeRecoverySpecification"])


def dynamodb_table_spec(p: dict) -> dict:
    """create_table arguments for one template table."""
    spec = {k: p[k] for k in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
            if k in p}
    if "StreamSpecification" in p:
        spec["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if "SSESpecification" in p:
        sse = p["SSESpecification"]
        spec["SSESpecification"] = {"Enabled": sse["SSEEnabled"], "SSEType": sse["SSEType"],
                                    "KMSMasterKeyId": sse["KMSMasterKeyId"]}
    return spec


def _glue_database(client, logical_id, p, resolver) -> None:
    glue = client("glue")
    try:
        glue.create_database(DatabaseInput=p["DatabaseInput"])
    except glue.exceptions.AlreadyExistsException:
        pass


def _stream(client, logical_id, p, resolver) -> None:
    kinesis, name = client("kinesis"), p["Name"]
    if name not in kinesis.list_streams()["StreamNames"]:
        kinesis.create_stream(StreamName=name, ShardCount=int(p["ShardCount"]))
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
        encryption = p["StreamEncryption"]
        kinesis.start_stream_encryption(StreamName=name, EncryptionType=encryption["EncryptionType"],
                                        KeyId=encryption["KeyId"])
        if int(p.get("RetentionPeriodHours", 24)) > 24:
            kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=int(p["RetentionPeriodHours"]))
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})


def _topic(client, logical_id, p, resolver) -> None:
    sns = client("sns")
    arn = sns.create_topic(Name=p["TopicName"])["TopicArn"]  # idempotent without attributes
    sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=p["KmsMasterKeyId"])


def _queue(client, logical_id, p, resolver) -> None:
    sqs = client("sqs")
    attributes = {"MessageRetentionPeriod": str(p["MessageRetentionPeriod"]), "KmsMasterKeyId": p["KmsMasterKeyId"]}
    try:
        url = sqs.get_queue_url(QueueName=p["QueueName"])["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)
    else:  # a stack provisioned before: same attributes as a new one
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)


def _workgroup(client, logical_id, p, resolver) -> None:
    athena = client("athena")
    if p["Name"] not in {w["Name"] for w in athena.list_work_groups()["WorkGroups"]}:
        athena.create_work_group(Name=p["Name"], Configuration=p["WorkGroupConfiguration"])


def _compute_environment(client, logical_id, p, resolver) -> dict:
    batch, iam, name = client("batch"), client("iam"), p["ComputeEnvironmentName"]
    existing = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    if existing:
        return {"Ref": existing[0]["computeEnvironmentArn"]}
    # An UNMANAGED environment needs a service role in moto (a Fargate one uses the service-linked role).
    role = f"{resources.name_prefix()}-batch-service-role"
    try:
        role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    created = batch.create_compute_environment(computeEnvironmentName=name, type="UNMANAGED", state=p["State"],
                                               serviceRole=role_arn)
    return {"Ref": created["computeEnvironmentArn"]}


def _job_queue(client, logical_id, p, resolver) -> None:
    batch, name = client("batch"), p["JobQueueName"]
    if not batch.describe_job_queues(jobQueues=[name])["jobQueues"]:
        batch.create_job_queue(jobQueueName=name, state=p["State"], priority=int(p["Priority"]),
                               computeEnvironmentOrder=camel(p["ComputeEnvironmentOrder"]))


def _job_definition(client, logical_id, p, resolver) -> None:
    batch, name = client("batch"), p["JobDefinitionName"]
    if batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]:
        return
    batch.register_job_definition(jobDefinitionName=name, **camel({k: v for k, v in p.items() if k != "JobDefinitionName"}))


def camel(value):
    """CloudFormation's PascalCase keys as the Batch API's camelCase (values untouched)."""
    if isinstance(value, list):
        return [camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: (v if k == "Options" else camel(v)) for k, v in value.items()}
    return value


CREATORS: dict[str, Callable] = {
    "AWS::KMS::Key": _key, "AWS::KMS::Alias": _alias, "AWS::IAM::Role": _role, "AWS::Logs::LogGroup": _log_group,
    "AWS::S3::Bucket": _bucket, "AWS::DynamoDB::Table": _table,
    "AWS::Glue::Database": _glue_database, "AWS::Kinesis::Stream": _stream, "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue, "AWS::Athena::WorkGroup": _workgroup,
    "AWS::Batch::ComputeEnvironment": _compute_environment, "AWS::Batch::JobQueue": _job_queue,
    "AWS::Batch::JobDefinition": _job_definition,
}

"""Create every AWS resource declared in plugins/archiveflow/resources.yaml, idempotently.

Runs against whatever endpoint the boto3 session is given: the local emulator here. No
infrastructure template ships yet: on AWS, create the same resources in your account (the
README's MWAA section), then run `archiveflow_stack_check`, which names whatever is missing.
"""

from __future__ import annotations

import json
import logging
import urllib.request

import boto3
from botocore.exceptions import ClientError

from archiveflow import resources
from archiveflow.deep_archive.migrate_index import add_global_index

log = logging.getLogger(__name__)

BATCH_ROLE = "archiveflow-batch-service-role"


def provision(endpoint_url: str, region: str = "us-east-1") -> None:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)

    def client(service: str):
        return session.client(service, endpoint_url=endpoint_url)

    declared = resources.declared()
    s3 = client("s3")
    for logical in declared["s3_buckets"]:
        try:
            s3.create_bucket(Bucket=resources.bucket(logical))
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    for logical, rules in (declared.get("s3_lifecycle") or {}).items():
        s3.put_bucket_lifecycle_configuration(
            Bucket=resources.bucket(logical), LifecycleConfiguration={"Rules": [lifecycle_rule(r) for r in rules]}
        )

    _provision_tables(client("dynamodb"), declared["dynamodb_tables"])

    glue = client("glue")
    for logical, description in declared["glue_databases"].items():
        try:
            glue.create_database(DatabaseInput={"Name": resources.glue_database(logical), "Description": description})
        except glue.exceptions.AlreadyExistsException:
            pass

    sns = client("sns")
    for logical in declared["sns_topics"]:
        sns.create_topic(Name=resources.sns_topic(logical))
    sqs = client("sqs")
    for logical in declared["sqs_queues"]:
        sqs.create_queue(QueueName=resources.sqs_queue(logical))

    athena = client("athena")
    existing_workgroups = {w["Name"] for w in athena.list_work_groups()["WorkGroups"]}
    for logical in declared["athena_workgroups"]:
        name = resources.athena_workgroup(logical)
        if name not in existing_workgroups:
            output = f"s3://{resources.bucket('athena-results')}/"
            athena.create_work_group(Name=name, Configuration={"ResultConfiguration": {"OutputLocation": output}})

    _provision_batch(endpoint_url, client("batch"), client("iam"))
    log.info("provisioned %s", endpoint_url)


def _provision_tables(dynamodb, tables: dict) -> None:
    """Create missing tables; add to existing ones the global indexes declared since they were made."""
    existing_tables = set(dynamodb.list_tables()["TableNames"])
    for logical, spec in tables.items():
        name = resources.dynamodb_table(logical)
        if name not in existing_tables:
            dynamodb.create_table(**dynamodb_table_spec(name, spec))
            continue
        for index_name, index_key in (spec.get("global_indexes") or {}).items():
            add_global_index(dynamodb, name, index_name, index_key)


def lifecycle_rule(rule: dict) -> dict:
    """put_bucket_lifecycle_configuration's form of one resources.yaml lifecycle rule."""
    spec: dict = {"ID": rule["id"], "Status": "Enabled", "Filter": {"Prefix": rule["prefix"]}}
    if "abort_incomplete_multipart_upload_days" in rule:
        spec["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule["abort_incomplete_multipart_upload_days"]}
    if "expiration_days" in rule:
        spec["Expiration"] = {"Days": rule["expiration_days"]}
    return spec


def dynamodb_table_spec(name: str, spec: dict) -> dict:
    """create_table arguments for one resources.yaml table entry (on-demand billing)."""
    key_names = list(spec["key"])
    attributes = dict(spec["key"])
    global_indexes = []
    for index_name, index_key in (spec.get("global_indexes") or {}).items():
        attributes.update(index_key)
        global_indexes.append({
            "IndexName": index_name,
            "KeySchema": _key_schema(list(index_key)),
            "Projection": {"ProjectionType": "ALL"},
        })
    table = {
        "TableName": name,
        "KeySchema": _key_schema(key_names),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in attributes.items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if global_indexes:
        table["GlobalSecondaryIndexes"] = global_indexes
    if spec.get("stream"):
        table["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec["stream"]}
    return table


def _key_schema(names: list[str]) -> list[dict]:
    kinds = ["HASH", "RANGE"]
    return [{"AttributeName": n, "KeyType": kinds[i]} for i, n in enumerate(names)]


def _provision_batch(endpoint_url: str, batch, iam) -> None:
    # Without Docker, moto must be told to "run" jobs without containers (STACK-NOTES.md).
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/config", data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()

    try:
        role_arn = iam.get_role(RoleName=BATCH_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName=BATCH_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    compute_env = resources.batch_compute_environment()
    if not batch.describe_compute_environments(computeEnvironments=[compute_env])["computeEnvironments"]:
        batch.create_compute_environment(
            computeEnvironmentName=compute_env, type="UNMANAGED", state="ENABLED", serviceRole=role_arn
        )
    queue = resources.batch_job_queue()
    if not batch.describe_job_queues(jobQueues=[queue])["jobQueues"]:
        batch.create_job_queue(
            jobQueueName=queue, state="ENABLED", priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": compute_env}],
        )
    for logical, spec in resources.declared()["batch"]["job_definitions"].items():
        name = resources.batch_job_definition(logical)
        active = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
        if not active:
            batch.register_job_definition(
                jobDefinitionName=name, type="container",
                containerProperties={
                    "image": f"archiveflow/{logical}:latest",
                    "command": spec["command"],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": str(spec["vcpus"])},
                        {"type": "MEMORY", "value": str(spec["memory_mib"])},
                    ],
                },
            )

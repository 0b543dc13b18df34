"""The local stack provisions every declared resource, and stopping a process stops it by pid."""

import pytest

from archiveflow import resources

pytestmark = pytest.mark.integration


def test_every_declared_resource_exists(local_stack):
    buckets = {b["Name"] for b in local_stack.client("s3").list_buckets()["Buckets"]}
    assert {resources.bucket(name) for name in resources.declared()["s3_buckets"]} <= buckets

    tables = set(local_stack.client("dynamodb").list_tables()["TableNames"])
    assert {resources.dynamodb_table(name) for name in resources.declared()["dynamodb_tables"]} <= tables
    index = local_stack.client("dynamodb").describe_table(TableName=resources.dynamodb_table("archive-index"))
    assert [g["IndexName"] for g in index["Table"]["GlobalSecondaryIndexes"]] == ["by-project-file", "by-file-version"]

    databases = {d["Name"] for d in local_stack.client("glue").get_databases()["DatabaseList"]}
    assert {resources.glue_database(name) for name in resources.declared()["glue_databases"]} <= databases

    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in local_stack.client("sns").list_topics()["Topics"]}
    assert resources.sns_topic("notifications") in topics
    rules = local_stack.client("s3").get_bucket_lifecycle_configuration(Bucket=resources.bucket("archive"))["Rules"]
    assert {r["ID"] for r in rules} == {"abort-incomplete-multipart-uploads", "expire-bundle-plans"}
    queues = local_stack.client("batch").describe_job_queues(jobQueues=[resources.batch_job_queue()])
    assert queues["jobQueues"][0]["state"] == "ENABLED"


def test_provisioning_twice_changes_nothing(local_stack):
    from devstack.provision import provision

    before = local_stack.client("dynamodb").list_tables()["TableNames"]
    provision(local_stack.aws_endpoint)
    assert local_stack.client("dynamodb").list_tables()["TableNames"] == before

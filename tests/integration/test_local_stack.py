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
    for name in resources.declared()["s3_buckets"]:  # what a killed multipart upload leaves is aborted
        rules = local_stack.client("s3").get_bucket_lifecycle_configuration(Bucket=resources.bucket(name))["Rules"]
        assert [r["AbortIncompleteMultipartUpload"] for r in rules if r["ID"] == "abort-incomplete-multipart-uploads"
                ] == [{"DaysAfterInitiation": 1}], name
    versioning = local_stack.client("s3").get_bucket_versioning(Bucket=resources.bucket("stream-archive"))
    assert versioning["Status"] == "Enabled"  # an item deleted twice keeps both archives
    tracked = local_stack.client("dynamodb").describe_table(TableName=resources.dynamodb_table("tracked-items"))
    assert tracked["Table"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    queues = local_stack.client("batch").describe_job_queues(jobQueues=[resources.batch_job_queue()])
    assert queues["jobQueues"][0]["state"] == "ENABLED"
    # Made from the CloudFormation template: what moto's own CloudFormation would have dropped is there.
    encryption = local_stack.client("s3").get_bucket_encryption(Bucket=resources.bucket("archive"))
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "aws:kms"
    assert local_stack.client("s3").get_public_access_block(Bucket=resources.bucket("archive"))[
        "PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    backups = local_stack.client("dynamodb").describe_continuous_backups(TableName=resources.dynamodb_table("runs"))
    assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"


def test_provisioning_twice_changes_nothing(local_stack):
    from devstack.provision import provision

    before = local_stack.client("dynamodb").list_tables()["TableNames"]
    provision(local_stack.aws_endpoint)
    assert local_stack.client("dynamodb").list_tables()["TableNames"] == before


def test_glue_refuses_an_update_from_a_stale_version_as_aws_does(local_stack):
    """Iceberg commits through Glue rely on UpdateTable's VersionId: the emulator must refuse a
    stale one (moto alone accepts it, and one of two concurrent commits would be lost)."""
    import uuid

    glue = local_stack.client("glue")
    database = resources.glue_database("lakehouse")
    name = f"cas_{uuid.uuid4().hex[:8]}"
    glue.create_table(DatabaseName=database, TableInput={"Name": name, "Parameters": {"v": "0"}})
    read = glue.get_table(DatabaseName=database, Name=name)["Table"]["VersionId"]
    glue.update_table(DatabaseName=database, TableInput={"Name": name, "Parameters": {"v": "1"}}, VersionId=read)
    with pytest.raises(glue.exceptions.ConcurrentModificationException):
        glue.update_table(DatabaseName=database, TableInput={"Name": name, "Parameters": {"v": "2"}}, VersionId=read)
    assert glue.get_table(DatabaseName=database, Name=name)["Table"]["Parameters"] == {"v": "1"}
    glue.update_table(DatabaseName=database, TableInput={"Name": name, "Parameters": {"v": "3"}})  # no version: no check
    glue.delete_table(DatabaseName=database, Name=name)

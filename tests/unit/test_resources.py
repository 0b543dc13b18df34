"""resources.yaml: every bucket aborts the multipart uploads a killed writer leaves open."""

from archiveflow import resources
from devstack.provision import lifecycle_rule


def test_every_bucket_has_the_abort_incomplete_multipart_upload_rule():
    declared = resources.declared()
    lifecycle = declared["s3_lifecycle"]
    assert set(lifecycle) == set(declared["s3_buckets"])
    for bucket, rules in lifecycle.items():
        aborts = [lifecycle_rule(r) for r in rules if "abort_incomplete_multipart_upload_days" in r]
        assert aborts == [{"ID": "abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}], bucket

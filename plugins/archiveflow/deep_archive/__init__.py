"""Deep-archive packing: plan bundles of small S3 objects, stream them into zips, index every member.

Plain Python (boto3 + stdlib, no Airflow) so the same code runs in the AWS Batch container, in a
local subprocess and in unit tests.
"""

"""Sensor readings from a Kinesis stream: validation, raw storage in S3, per-hour aggregates in DynamoDB."""

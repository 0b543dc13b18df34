"""Per stream ARN + shard id, how far the archive has read, in the checkpoints DynamoDB table.

An item: `sequence_number` (every record up to it is archived or dead-lettered), `in_flight_through`
(a batch being written: after a crash its records may already be in S3, so they are checked before
being written again), `finished` (a closed shard read to its end) and `iterator` with
`iterator_valid_until` (where reading stopped past empty pages; an iterator lasts 15 minutes).

Checkpoints are kept per destination: a run writing to another bucket than the deployment's
stream-archive bucket reads the stream with its own checkpoints (partition value
`<stream ARN> -> s3://<bucket>`), so it never moves the default bucket's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


class CheckpointStore:
    """Over a boto3 DynamoDB Table resource (key: stream_arn, shard_id)."""

    def __init__(self, table, table_name: str, other_bucket: str | None = None):
        self.table = table
        self.table_name = table_name  # the archived table, recorded for people reading the checkpoints
        self.other_bucket = other_bucket  # None: the deployment's stream-archive bucket

    def _partition(self, stream_arn: str) -> str:
        return stream_arn if self.other_bucket is None else f"{stream_arn} -> s3://{self.other_bucket}"

    def for_stream(self, stream_arn: str) -> dict[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": "stream_arn = :arn", "ConsistentRead": True,
                                  "ExpressionAttributeValues": {":arn": self._partition(stream_arn)}}
        items: dict[str, dict[str, Any]] = {}
        while True:
            page = self.table.query(**kwargs)
            items.update({i["shard_id"]: i for i in page["Items"]})
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def save(self, stream_arn: str, shard_id: str, **attributes: Any) -> None:
        """Set `attributes` (None removes one) on the shard's checkpoint."""
        attributes = {"table_name": self.table_name, "updated_at": dt.datetime.now(dt.UTC).isoformat(), **attributes}
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        sets = [f"#a{i} = :v{i}" for i, v in enumerate(attributes.values()) if v is not None]
        removes = [f"#a{i}" for i, v in enumerate(attributes.values()) if v is None]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self.table.update_item(
            Key={"stream_arn": self._partition(stream_arn), "shard_id": shard_id}, UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(attributes.values()) if v is not None})

"""Shard lineage: DynamoDB Streams split and roll shards over (about every four hours); a child's
records follow its parent's, so a parent is read to its end before any child is read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def lineage_order(shards: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The shards, every parent before its children (siblings by starting sequence number). A
    shard whose parent has left the stream (trimmed after 24 h) is a root."""
    shards = [dict(s) for s in shards]
    by_id = {s["ShardId"]: s for s in shards}

    def depth(shard: Mapping[str, Any]) -> int:
        steps, parent = 0, shard.get("ParentShardId")
        while parent in by_id and steps <= len(by_id):
            steps, parent = steps + 1, by_id[parent].get("ParentShardId")
        return steps

    return sorted(shards, key=lambda s: (depth(s), int(s["SequenceNumberRange"]["StartingSequenceNumber"]),
                                         s["ShardId"]))


def is_closed(shard: Mapping[str, Any]) -> bool:
    return "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})


def describe_shards(streams_client, stream_arn: str) -> list[dict[str, Any]]:
    """Every shard of the stream (describe_stream pages by the last shard id)."""
    shards, kwargs = [], {"StreamArn": stream_arn}
    while True:
        description = streams_client.describe_stream(**kwargs)["StreamDescription"]
        shards += description["Shards"]
        if not description.get("LastEvaluatedShardId"):
            return shards
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

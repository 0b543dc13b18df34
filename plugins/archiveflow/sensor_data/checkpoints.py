"""Per-shard progress of sensor_pipeline in the `sensor-checkpoints` table (key: stream_name, shard_id).

An item holds `sequence_number`, the last record whose batch is fully processed (raw objects
written, aggregates recomputed), and, while a batch is in flight, `pending_first`/`pending_last`:
the batch was decided before anything was written, so every retry — or the next run, if this one
failed — processes exactly the same records. Both transitions are conditional writes, so two runs
can never take or commit the same batch twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archiveflow.errors import TransientServiceError


@dataclass(frozen=True)
class Checkpoint:
    stream: str
    shard_id: str
    sequence_number: str | None  # last committed record; None: start at the oldest retained record
    pending: tuple[str, str] | None  # (first, last) of the batch in flight

    @property
    def key(self) -> dict[str, str]:
        return {"stream_name": self.stream, "shard_id": self.shard_id}


class Checkpoints:
    def __init__(self, table):
        self.table = table  # a boto3 DynamoDB Table resource

    def get(self, stream: str, shard_id: str) -> Checkpoint:
        item = self.table.get_item(Key={"stream_name": stream, "shard_id": shard_id}, ConsistentRead=True).get("Item")
        item = item or {}
        pending = (item["pending_first"], item["pending_last"]) if "pending_first" in item else None
        return Checkpoint(stream, shard_id, item.get("sequence_number"), pending)

    def hold(self, checkpoint: Checkpoint, first: str, last: str, run_id: str) -> None:
        """Record the batch about to be processed; refused if another run moved the checkpoint."""
        if checkpoint.sequence_number is None:
            expected = "attribute_not_exists(sequence_number)"
            values: dict[str, Any] = {}
        else:
            expected = "sequence_number = :committed"
            values = {":committed": checkpoint.sequence_number}
        self._conditional_update(
            checkpoint,
            update="SET pending_first = :first, pending_last = :last, pending_run_id = :run",
            condition=f"attribute_not_exists(pending_first) AND {expected}",
            values={**values, ":first": first, ":last": last, ":run": run_id},
        )

    def commit(self, checkpoint: Checkpoint, first: str, last: str) -> bool:
        """Move the checkpoint past the batch; False if that was already done (a retried commit)."""
        current = self.get(checkpoint.stream, checkpoint.shard_id)
        if current.pending is None and current.sequence_number == last:
            return False
        self._conditional_update(
            checkpoint,
            update="SET sequence_number = :last REMOVE pending_first, pending_last, pending_run_id",
            condition="pending_first = :first AND pending_last = :last",
            values={":first": first, ":last": last},
        )
        return True

    def _conditional_update(self, checkpoint: Checkpoint, update: str, condition: str, values: dict) -> None:
        client = self.table.meta.client
        try:
            self.table.update_item(Key=checkpoint.key, UpdateExpression=update, ConditionExpression=condition,
                                   ExpressionAttributeValues=values)
        except client.exceptions.ConditionalCheckFailedException:
            # Another run changed this shard's checkpoint in between: a retry starts from what it wrote.
            raise TransientServiceError(
                f"{checkpoint.stream}/{checkpoint.shard_id}: the checkpoint changed while this run used it") from None

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
    error: str | None = None  # why the last try at the pending batch failed

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
        return Checkpoint(stream, shard_id, item.get("sequence_number"), pending, item.get("pending_error"))

    def hold(self, checkpoint: Checkpoint, first: str, last: str, run_id: str) -> Checkpoint:
        """Record the batch about to be processed (its first try); refused if another run moved the checkpoint."""
        if checkpoint.sequence_number is None:
            expected = "attribute_not_exists(sequence_number)"
            values: dict[str, Any] = {}
        else:
            expected = "sequence_number = :committed"
            values = {":committed": checkpoint.sequence_number}
        self._conditional_update(
            checkpoint,
            update="SET pending_first = :first, pending_last = :last, pending_run_id = :run, pending_tries = :one",
            condition=f"attribute_not_exists(pending_first) AND {expected}",
            values={**values, ":first": first, ":last": last, ":run": run_id, ":one": 1},
        )
        return Checkpoint(checkpoint.stream, checkpoint.shard_id, checkpoint.sequence_number, (first, last))

    def start_try(self, checkpoint: Checkpoint) -> int:
        """Count a new try at the pending batch (a replay); the number of unfinished tries, this one included."""
        return self._update_pending(checkpoint, "ADD pending_tries :one", {":one": 1})

    def try_stored(self, checkpoint: Checkpoint) -> None:
        self._update_pending(checkpoint, "SET pending_tries = :zero", {":zero": 0})

    def try_not_counted(self, checkpoint: Checkpoint) -> None:
        """The try failed because a service was unavailable: it does not count against the records."""
        self._update_pending(checkpoint, "ADD pending_tries :minus_one", {":minus_one": -1})

    def try_failed(self, checkpoint: Checkpoint, error: str) -> None:
        self._update_pending(checkpoint, "SET pending_error = :error", {":error": error[:2000]})

    def commit(self, checkpoint: Checkpoint, first: str, last: str) -> bool:
        """Move the checkpoint past the batch; False if that was already done (a retried commit)."""
        current = self.get(checkpoint.stream, checkpoint.shard_id)
        if current.pending is None and current.sequence_number == last:
            return False
        self._conditional_update(
            checkpoint,
            update="SET sequence_number = :last REMOVE pending_first, pending_last, pending_run_id, pending_tries, "
                   "pending_error",
            condition="pending_first = :first AND pending_last = :last",
            values={":first": first, ":last": last},
        )
        return True

    def _update_pending(self, checkpoint: Checkpoint, update: str, values: dict) -> int:
        """Update the pending batch's item, refused if it is no longer pending; its pending_tries after."""
        first, last = checkpoint.pending
        item = self._conditional_update(checkpoint, update, "pending_first = :first AND pending_last = :last",
                                        {**values, ":first": first, ":last": last})
        return int(item.get("pending_tries", 0))

    def _conditional_update(self, checkpoint: Checkpoint, update: str, condition: str, values: dict) -> dict:
        client = self.table.meta.client
        try:
            return self.table.update_item(Key=checkpoint.key, UpdateExpression=update, ConditionExpression=condition,
                                          ExpressionAttributeValues=values, ReturnValues="ALL_NEW")["Attributes"]
        except client.exceptions.ConditionalCheckFailedException:
            # Another run changed this shard's checkpoint in between: a retry starts from what it wrote.
            raise TransientServiceError(
                f"{checkpoint.stream}/{checkpoint.shard_id}: the checkpoint changed while this run used it") from None

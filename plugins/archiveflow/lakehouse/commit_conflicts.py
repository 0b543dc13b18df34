"""What a MERGE does when its Iceberg commit loses a race with another writer, on either engine:
the whole statement is computed again from the table's new snapshot (never the old rows
re-applied), after a jittered backoff, up to MERGE_ATTEMPTS attempts in all. Plain Python."""

from __future__ import annotations

import random

MERGE_ATTEMPTS = 8
# Athena's error when a concurrent writer committed to the Iceberg table first.
ATHENA_COMMIT_CONFLICT = "ICEBERG_COMMIT_ERROR"


def backoff_seconds(attempt: int, base: float, cap: float = 60.0) -> float:
    """The wait after the `attempt`-th lost race (1-based): between half and all of base·2^(attempt-1),
    at most `cap`; the random half keeps two losers from colliding again in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def athena_commit_conflict(query_execution: dict) -> bool:
    """Whether a failed Athena query (`get_query_execution`'s `QueryExecution`) lost an Iceberg commit race."""
    status = query_execution.get("Status", {})
    text = f"{status.get('StateChangeReason', '')} {status.get('AthenaError', {}).get('ErrorMessage', '')}"
    return ATHENA_COMMIT_CONFLICT in text


def conflict_message(table: str) -> str:
    return f"{table}: {MERGE_ATTEMPTS} commits in a row lost a race with other writers committing to it at the same time"

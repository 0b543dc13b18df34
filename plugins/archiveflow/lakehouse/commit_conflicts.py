"""What a writer does when its Iceberg commit loses a race with another writer, on either engine:
the whole statement is computed again from the table's new snapshot (never the old rows
re-applied), after a jittered backoff, up to MERGE_ATTEMPTS attempts in all. Plain Python."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

MERGE_ATTEMPTS = 8
COMMIT_BACKOFF_SECONDS = 0.1   # the first wait after a lost pyiceberg commit race (then doubled, jittered)
# Athena's error when a concurrent writer committed to the Iceberg table first.
ATHENA_COMMIT_CONFLICT = "ICEBERG_COMMIT_ERROR"
# pyiceberg re-applies a commit that lost a race on the winner's snapshot by itself: right for a
# blind append, wrong for rows computed from the older snapshot (a MERGE's new ids, the rows an
# archive run did not find archived, a bundle not yet in the catalog): the winner's rows would be
# added a second time. Tables whose writers compute what they add carry this property, and the
# writer recomputes (`until_committed`).
NO_BLIND_RETRIES = {"commit.retry.num-retries": "0"}


def backoff_seconds(attempt: int, base: float, cap: float = 60.0) -> float:
    """The wait after the `attempt`-th lost race (1-based): between half and all of base·2^(attempt-1),
    at most `cap`; the random half keeps two losers from colliding again in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def until_committed(table: str, attempt: Callable[[], T], base: float = COMMIT_BACKOFF_SECONDS) -> T:
    """`attempt()`, which reads the table's current snapshot, computes and commits on it; again after
    each commit that lost a race (pyiceberg's `CommitFailedException`), after a jittered backoff.
    After MERGE_ATTEMPTS lost races, `CommitFailedException` naming `table`."""
    from pyiceberg.exceptions import CommitFailedException

    for number in range(1, MERGE_ATTEMPTS + 1):
        try:
            return attempt()
        except CommitFailedException as err:
            lost = err
            if number < MERGE_ATTEMPTS:
                wait = backoff_seconds(number, base)
                log.warning("commit to %s lost a race with another writer (attempt %s of %s): %s; recomputing "
                            "in %.2f s", table, number, MERGE_ATTEMPTS, err, wait)
                time.sleep(wait)
    raise CommitFailedException(conflict_message(table)) from lost


def athena_commit_conflict(query_execution: dict) -> bool:
    """Whether a failed Athena query (`get_query_execution`'s `QueryExecution`) lost an Iceberg commit race."""
    status = query_execution.get("Status", {})
    text = f"{status.get('StateChangeReason', '')} {status.get('AthenaError', {}).get('ErrorMessage', '')}"
    return ATHENA_COMMIT_CONFLICT in text


def conflict_message(table: str) -> str:
    return f"{table}: {MERGE_ATTEMPTS} commits in a row lost a race with other writers committing to it at the same time"

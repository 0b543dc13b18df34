"""Restores asked from the archive page: the `s3_restore` conf of a selection, what each tier would
cost and how long it takes, and where a run is (requested → restoring → extracted, or failed).

The page names each file by its `bucket/key` (its newest archived version is restored, as
`s3_restore` does when no `version` is asked) and writes the copies under `archive-page/<run id>/` in
the deployment's restore bucket, from where the page serves them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from archiveflow.errors import BadRequest
from archiveflow.restore import bundles, cost
from archiveflow.restore.request import FIELDS, MAX_FILES, TIERS, parse_request

DAG_ID = "s3_restore"
RUN_PREFIX = "archive_page__"
DESTINATION = "archive-page"
# How long a restore takes, by class and tier (AWS's published figures).
EXPECTED_WAIT = {
    ("GLACIER", "Expedited"): "1-5 minutes", ("GLACIER", "Standard"): "3-5 hours", ("GLACIER", "Bulk"): "5-12 hours",
    ("DEEP_ARCHIVE", "Standard"): "within 12 hours", ("DEEP_ARCHIVE", "Bulk"): "within 48 hours",
}
NO_RESTORE_WAIT = "none: readable at once"
REQUESTED, RESTORING, EXTRACTED, FAILED = "requested", "restoring", "extracted", "failed"
# Task states in which the wait for S3 has begun.
WAITING_STATES = {"running", "deferred", "up_for_reschedule", "up_for_retry", "success"}


def new_run_id(user: str) -> str:
    """A run id naming who asked (letters, digits, - and _ only: it is also a key prefix)."""
    who = re.sub(r"[^A-Za-z0-9_-]+", "-", user)[:40] or "user"
    return f"{RUN_PREFIX}{who}__{datetime.now(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


def destination_prefix(run_id: str) -> str:
    return f"{DESTINATION}/{run_id}/"


def check_files(files: Any) -> list[str]:
    """The selection: a list of `bucket/key` names, at most `MAX_FILES`."""
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and "/" in f for f in files):
        raise BadRequest("files", "select at least one archived file (each as bucket/key)")
    if len(files) > MAX_FILES:
        raise BadRequest("files", f"{len(files)} files; at most {MAX_FILES} per restore")
    return files


def restore_conf(body: Mapping[str, Any], run_id: str, *, poll_interval: int, restore_bucket: str,
                 archive_bucket: str) -> dict:
    """The `s3_restore` conf of the page's request (``files``: `bucket/key` names, ``retrieval_tier``,
    ``restore_days``), checked by the DAG's own request parser; BadRequest naming the field otherwise."""
    files = check_files(body.get("files"))
    unknown = set(body) - {"files", "retrieval_tier", "restore_days"}
    if unknown:
        raise BadRequest(sorted(unknown)[0], "unknown field; a restore takes files, retrieval_tier, restore_days")
    conf = {"files": sorted(set(files)), "retrieval_tier": body.get("retrieval_tier", FIELDS["retrieval_tier"].default),
            "restore_days": body.get("restore_days", FIELDS["restore_days"].default),
            "destination_prefix": destination_prefix(run_id), "poll_interval": poll_interval}
    parse_request(conf, restore_bucket=restore_bucket, archive_bucket=archive_bucket)
    return conf


def quote(described: Sequence[dict], files: int, restore_days: int) -> list[dict]:
    """Per tier: whether every selected bundle offers it, what it costs (`archiveflow.restore.cost`) and the wait."""
    needing = [b for b in described if b["status"] != bundles.NOT_NEEDED]
    options = []
    for tier in TIERS:
        offered = all(tier in bundles.offered_tiers(b) for b in needing)
        waits = sorted({EXPECTED_WAIT.get((b["archive_status"] or b["storage_class"], tier), "") for b in needing} - {""})
        options.append({"tier": tier, "offered": offered,
                        "wait": ", ".join(waits) if needing else NO_RESTORE_WAIT,
                        "cost": cost.estimate(list(described), tier, restore_days, files)})
    return options


def status(run_state: str, task_states: Mapping[str, str | None]) -> str:
    """Where an `s3_restore` run is, in the page's words."""
    if run_state == "failed" or "failed" in task_states.values() or "upstream_failed" in task_states.values():
        return FAILED
    if run_state == "success" or task_states.get("extract") == "success":
        return EXTRACTED
    if task_states.get("wait_for_restores") in WAITING_STATES or task_states.get("request_restores") == "success":
        return RESTORING
    return REQUESTED


def error_message(log_lines: Sequence[Mapping[str, Any]]) -> str | None:
    """The failure a task log reports: its last exception (type: message), else its last error line."""
    for line in reversed(log_lines):
        for detail in reversed(line.get("error_detail") or []):
            return f"{detail.get('exc_type')}: {detail.get('exc_value')}"
    for line in reversed(log_lines):
        if str(line.get("level", "")).lower() in ("error", "critical") and line.get("event"):
            return str(line["event"])
    return None

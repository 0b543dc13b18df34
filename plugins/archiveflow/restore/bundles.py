"""The archive objects a restore reads (zip bundles, or objects archived on their own): whether
each needs a restore, which retrieval tiers its class offers, and the one restore request per object.

A restore request is paid, so it is made only for an object that shows no restore at all: one
in progress is left alone, and S3's own answer that one is in progress (409
`RestoreAlreadyInProgress`) counts as done. An available copy that would expire before the run
could extract it (`needed_until`) gets a new request, which S3 takes as a new expiry for the copy
(no second retrieval).
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from botocore.exceptions import ClientError

from archiveflow.errors import BadRequest

# Classes S3 must restore before a GET, and the tiers each offers (fastest first).
TIERS = {"GLACIER": ("Expedited", "Standard", "Bulk"), "DEEP_ARCHIVE": ("Standard", "Bulk")}
# Intelligent-Tiering's opt-in archive tiers (HeadObject's `ArchiveStatus`) need a restore too.
ARCHIVE_STATUS_TIERS = {"ARCHIVE_ACCESS": ("Standard", "Bulk"), "DEEP_ARCHIVE_ACCESS": ("Standard", "Bulk")}

NOT_NEEDED, NONE, IN_PROGRESS, AVAILABLE = "not_needed", "none", "in_progress", "available"


def describe(s3, bucket: str, key: str) -> dict:
    """What the restore needs to know about one archive object, from one HeadObject."""
    head = s3.head_object(Bucket=bucket, Key=key)
    storage_class = head.get("StorageClass", "STANDARD")
    return {"bucket": bucket, "key": key, "storage_class": storage_class, "size": head["ContentLength"],
            "archive_status": head.get("ArchiveStatus"), "status": restore_status(head)}


def restore_status(head: dict) -> str:
    if head.get("StorageClass") not in TIERS and head.get("ArchiveStatus") not in ARCHIVE_STATUS_TIERS:
        return NOT_NEEDED
    header = head.get("Restore") or ""
    if 'ongoing-request="true"' in header:
        return IN_PROGRESS
    if 'ongoing-request="false"' in header:
        return AVAILABLE
    return NONE


def expiry(head: dict) -> datetime | None:
    """When an available restored copy expires (the `Restore` header's expiry-date)."""
    header = head.get("Restore") or ""
    if 'expiry-date="' not in header:
        return None
    return parsedate_to_datetime(header.split('expiry-date="', 1)[1].split('"', 1)[0])


def offered_tiers(bundle: dict) -> tuple[str, ...]:
    return ARCHIVE_STATUS_TIERS.get(bundle["archive_status"]) or TIERS.get(bundle["storage_class"], ())


def check_tier(bundle: dict, tier: str) -> None:
    """BadRequest naming `retrieval_tier` when the object's class does not offer `tier`."""
    if bundle["status"] == NOT_NEEDED:
        return
    offered = offered_tiers(bundle)
    if tier not in offered:
        where = bundle["archive_status"] or bundle["storage_class"]
        raise BadRequest("retrieval_tier", f"{tier} is not offered for {where} (s3://{bundle['bucket']}/"
                         f"{bundle['key']}); use one of: {', '.join(offered)}")


def request_restore(s3, bundle: dict, tier: str, days: int, needed_until: datetime | None = None) -> str:
    """Ask S3 to restore one object unless a restore exists that lasts until `needed_until`;
    return the status it is left in ("requested", "extended", or as it was)."""
    head = s3.head_object(Bucket=bundle["bucket"], Key=bundle["key"])
    status = restore_status(head)
    extend = status == AVAILABLE and needed_until is not None and (expiry(head) or needed_until) < needed_until
    if status != NONE and not extend:
        return status
    restore: dict = {"GlacierJobParameters": {"Tier": tier}}
    if not head.get("ArchiveStatus"):
        restore["Days"] = days  # Intelligent-Tiering moves the object back instead: no Days
    try:
        s3.restore_object(Bucket=bundle["bucket"], Key=bundle["key"], RestoreRequest=restore)
    except ClientError as err:
        if err.response["Error"]["Code"] == "RestoreAlreadyInProgress":
            return IN_PROGRESS
        raise
    return "extended" if extend else "requested"

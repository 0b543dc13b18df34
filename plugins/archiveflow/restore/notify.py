"""The one SNS message of a restore: each restored file with a presigned URL, and any failure.

SNS takes at most 256 KB: a longer message is written as a manifest object in the restore bucket
and the message links it instead. A presigned URL lives at most 7 days (SigV4), and one signed with
a role's temporary credentials (MWAA's execution role) dies with them, whatever its `ExpiresIn`:
the message says when the links stop working.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

SNS_MAX_BYTES = 256 * 1024
PRESIGN_MAX = timedelta(days=7)
SUBJECT = "archiveflow: restore {outcome} ({count} files)"


def link_lifetime(restore_days: int, credentials_expiry: datetime | None, now: datetime) -> tuple[int, datetime]:
    """(ExpiresIn seconds to ask for, when the links really expire)."""
    wanted = min(timedelta(days=restore_days), PRESIGN_MAX)
    expires = now + wanted
    if credentials_expiry is not None:
        expires = min(expires, credentials_expiry)
    return int(wanted.total_seconds()), expires


def build_message(run_id: str, restored: list[dict], failed: list[dict], links_expire: datetime) -> dict:
    return {
        "run_id": run_id,
        "outcome": "failed" if failed and not restored else "partly failed" if failed else "succeeded",
        "links_expire_at": links_expire.astimezone(UTC).isoformat(timespec="seconds"),
        "note": "The URLs stop working at links_expire_at (a URL signed with temporary role credentials "
                "expires with them); the files stay in the restore bucket.",
        "restored": restored,
        "failed": failed,
    }


def publishable(message: dict, manifest_url: str | None = None) -> str | None:
    """The message as SNS text, or None when it is over SNS's limit (then link a manifest)."""
    text = json.dumps(message, indent=1)
    if manifest_url is None:
        return text if len(text.encode()) <= SNS_MAX_BYTES else None
    summary = {k: v for k, v in message.items() if k not in ("restored", "failed")}
    return json.dumps({**summary, "restored_count": len(message["restored"]), "failed_count": len(message["failed"]),
                       "first_failures": message["failed"][:20], "manifest_url": manifest_url}, indent=1)


def subject(message: dict) -> str:
    # SNS subjects: at most 100 ASCII characters.
    return SUBJECT.format(outcome=message["outcome"], count=len(message["restored"]) + len(message["failed"]))[:100]


def now() -> datetime:
    return datetime.now(UTC)

"""One poll of the GitHub Events API (`GET /events`), the seed's five-minute source: conditional
on the last poll's `ETag` (`If-None-Match`; a 304 costs no rate limit), following
`Link: rel="next"` pages, keeping only events newer than the last one ingested (event ids grow
over time), and telling the caller when to come back if the rate limit is exhausted
(`X-RateLimit-Remaining: 0` → `X-RateLimit-Reset`, or a `Retry-After`). Plain Python: the
caller hands in `fetch(endpoint, headers) -> ApiResponse`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from archiveflow.errors import BadRequest, TransientServiceError
from archiveflow.github_lakehouse.bronze import MalformedEvent, bronze_row, event_day

MAX_SAMPLES = 5   # malformed events quoted in the poll's summary

BASE_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "archiveflow-github-lakehouse"}


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]   # case-insensitive in practice (requests' CaseInsensitiveDict)
    body: bytes


@dataclass(frozen=True)
class PollState:
    etag: str | None = None
    watermark: int = 0           # the largest event id ingested so far


@dataclass
class PollResult:
    outcome: str                 # "new" | "not_modified" | "rate_limited"
    etag: str | None = None
    rows: list[dict] = field(default_factory=list)   # Bronze rows, newest first
    watermark: int = 0
    pages: int = 0
    malformed: int = 0
    malformed_samples: list[dict] = field(default_factory=list)   # the first few: reason and the event, cut
    retry_at: float | None = None  # epoch seconds, when rate limited
    rate_limit_remaining: str | None = None


Fetch = Callable[[str, Mapping[str, str]], ApiResponse]


def next_link(link_header: str | None) -> str | None:
    """The `rel="next"` URL of a `Link` header."""
    for part in (link_header or "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;.*\brel="?next"?', part)
        if match:
            return match.group(1)
    return None


def relative_endpoint(base_url: str, url: str) -> str:
    """A `Link` URL as an endpoint relative to the connection's base URL (which may have a path,
    as GitHub Enterprise's `/api/v3` does)."""
    if url.startswith(base_url.rstrip("/") + "/"):
        return url[len(base_url.rstrip("/")) + 1:]
    parts = urlsplit(url)
    return parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def rate_limited_until(response: ApiResponse, now: float) -> float | None:
    """When a request may be made again, if this response says the limit is exhausted."""
    retry_after = response.headers.get("Retry-After")
    if response.status in (403, 429) and retry_after and retry_after.isdigit():
        return now + int(retry_after)
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset", "")
        return max(float(reset), now) + 1 if reset.isdigit() else now + 60
    return None


def _check_status(response: ApiResponse, endpoint: str) -> None:
    if response.status in (401, 404):
        raise BadRequest("http_conn_id", f"GET {endpoint}: HTTP {response.status} "
                         f"(wrong base URL or token?): {response.body[:200]!r}")
    if response.status != 200:
        raise TransientServiceError(f"GET {endpoint}: HTTP {response.status}: {response.body[:200]!r}")


def _new_rows(body: bytes, watermark: int, seen: set[str], result: PollResult) -> tuple[list[dict], bool]:
    """Bronze rows of a page's events newer than `watermark`; True when the page reached older ones."""
    events = json.loads(body)
    if not isinstance(events, list):
        raise TransientServiceError(f"the Events API answered a {type(events).__name__}, not a list of events")
    rows, reached_old = [], False
    for event in events:
        try:
            row = bronze_row(event)
            event_id = int(row["id"])
        except ValueError as err:  # MalformedEvent, or an id that is not a number
            result.malformed += 1
            if len(result.malformed_samples) < MAX_SAMPLES:
                reason = str(err) if isinstance(err, MalformedEvent) else "id is not a number"
                result.malformed_samples.append({"reason": reason, "text": json.dumps(event)[:200]})
            continue
        if event_id <= watermark:
            reached_old = True
        elif row["id"] not in seen:  # pages shift while new events arrive: one event may be on two
            seen.add(row["id"])
            rows.append(row)
    return rows, reached_old


def poll(fetch: Fetch, state: PollState, now: float, per_page: int = 100, max_pages: int = 3) -> PollResult:
    """Fetch the events newer than `state.watermark`, at most `max_pages` pages."""
    result = PollResult("new", etag=state.etag, watermark=state.watermark)
    endpoint: str | None = f"events?per_page={per_page}"
    headers = dict(BASE_HEADERS, **({"If-None-Match": state.etag} if state.etag else {}))
    seen: set[str] = set()
    while endpoint and result.pages < max_pages:
        response = fetch(endpoint, headers)
        result.rate_limit_remaining = response.headers.get("X-RateLimit-Remaining")
        if response.status == 304:
            return PollResult("not_modified", etag=state.etag, watermark=state.watermark, pages=1,
                              rate_limit_remaining=result.rate_limit_remaining)
        if response.status != 200 and (retry_at := rate_limited_until(response, now)):
            return PollResult("rate_limited", retry_at=retry_at, etag=state.etag, watermark=state.watermark)
        _check_status(response, endpoint)
        result.pages += 1
        if result.pages == 1:
            result.etag = response.headers.get("ETag")
        rows, reached_old = _new_rows(response.body, state.watermark, seen, result)
        result.rows += rows
        endpoint = None if reached_old else next_link(response.headers.get("Link"))
        if endpoint and result.pages < max_pages and (retry_at := rate_limited_until(response, now)):
            # Stopping half-way would leave a gap below the new watermark: start again after the reset.
            return PollResult("rate_limited", retry_at=retry_at, etag=state.etag, watermark=state.watermark)
        headers = dict(BASE_HEADERS)
    result.watermark = max([state.watermark, *(int(row["id"]) for row in result.rows)])
    return result


def event_days(rows: list[dict]) -> list[str]:
    """The UTC days of the events of a poll's Bronze rows (`created_at`), the days Silver files them under."""
    return sorted({event_day(row["created_at"]) for row in rows})

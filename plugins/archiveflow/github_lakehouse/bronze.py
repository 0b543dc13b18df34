"""The Bronze layer of the GitHub events lakehouse, exactly the seed's `github_events_bronze`:
JSON lines, gzip, under `s3://<lakehouse bucket>/github/events/ingest_dt=YYYY-MM-DD/`, one row per
event with the columns `id, type, created_at, repo_id, repo_name, actor_id, actor_login,
payload_raw` (the event's `payload` as a JSON string).

Object keys inside a partition (a re-run of the same hour or poll writes the same key, so it
replaces its earlier object and never adds a second one):

- GH Archive hour `2024-01-15-5`: `ingest_dt=2024-01-15/gharchive-2024-01-15-05.json.gz`
- Events API poll of run `2024-01-15T05:35:00Z`: `ingest_dt=2024-01-15/events-api-20240115T053500Z.json.gz`

Events repeated across hours or sources are kept as the sources published them (Bronze is the
raw truth); Silver removes duplicates by event id. Bronze is partitioned by arrival (the hour's day,
the poll's day); every later layer files an event under its own time, `created_at` in UTC
(`event_day`).

A line reaches Bronze only if every later layer can read it (`MalformedEvent` otherwise, counted
and quoted by the run): `id`, `type` and `created_at` present, `created_at` an ISO 8601 time that
matches CREATED_AT_PATTERN and is a real date, `repo.id` and `actor.id` integers that fit a
bigint. `silver_merge.sql` applies the same pattern (bound from CREATED_AT_PATTERN) and parse,
so a line written before these checks existed is skipped by Silver instead of failing the hour.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

TABLE = "github_events_bronze"
PREFIX = "github/events/"
COLUMNS = ("id", "type", "created_at", "repo_id", "repo_name", "actor_id", "actor_login", "payload_raw")
GH_ARCHIVE_FIRST_DAY = dt.date(2011, 2, 12)

HOUR_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}-([0-9]|[01][0-9]|2[0-3])$"
# `created_at` as GitHub writes it (2024-01-15T05:04:03Z), an offset or milliseconds allowed, years
# 2000-2099. Written for both Python's `re` and Athena's/DuckDB's regexp_like: plain classes only.
CREATED_AT_PATTERN = (r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                      r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,3})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
BIGINT_RANGE = range(-(2**63), 2**63)


@dataclass(frozen=True, order=True)
class GhHour:
    """One GH Archive hour (UTC)."""

    start: dt.datetime

    @classmethod
    def parse(cls, text: str) -> GhHour:
        """`2024-01-15-5` (GH Archive's own spelling, hour not zero-padded; `05` is accepted too)."""
        if not re.match(HOUR_PATTERN, text):
            raise ValueError(f"{text!r} is not an hour like 2024-01-15-5")
        day, hour = text.rsplit("-", 1)
        try:
            date = dt.date.fromisoformat(day)
        except ValueError as err:
            raise ValueError(f"{text!r}: {err}") from None
        return cls.of(dt.datetime.combine(date, dt.time(int(hour)), tzinfo=dt.UTC))

    @classmethod
    def of(cls, moment: dt.datetime) -> GhHour:
        """The hour `moment` falls in (any timezone-aware datetime)."""
        utc = moment.astimezone(dt.UTC)
        return cls(utc.replace(minute=0, second=0, microsecond=0))

    @property
    def name(self) -> str:
        """GH Archive's name of the hour: `2024-01-15-5`."""
        return f"{self.start:%Y-%m-%d}-{self.start.hour}"

    @property
    def source_path(self) -> str:
        """The file GH Archive publishes for the hour, relative to its base URL."""
        return f"{self.name}.json.gz"

    @property
    def ingest_dt(self) -> str:
        return f"{self.start:%Y-%m-%d}"

    @property
    def bronze_key(self) -> str:
        return f"{partition_prefix(self.ingest_dt)}gharchive-{self.start:%Y-%m-%d-%H}.json.gz"


def partition_prefix(ingest_dt: str) -> str:
    return f"{PREFIX}ingest_dt={ingest_dt}/"


def events_api_day(polled_at: dt.datetime) -> str:
    """The Bronze partition (`ingest_dt`) of the Events API poll made at `polled_at`."""
    return f"{polled_at.astimezone(dt.UTC):%Y-%m-%d}"


def events_api_key(polled_at: dt.datetime) -> str:
    utc = polled_at.astimezone(dt.UTC)
    return f"{partition_prefix(events_api_day(utc))}events-api-{utc:%Y%m%dT%H%M%SZ}.json.gz"


class MalformedEvent(ValueError):
    """A line that is not a GitHub event; the message is the reason, counted per kind."""


_created_at = re.compile(CREATED_AT_PATTERN).fullmatch


@functools.lru_cache(maxsize=4096)
def _real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def event_day(created_at: str) -> str:
    """The UTC day (`2024-01-15`) an event belongs to in Silver and Gold; MalformedEvent when
    `created_at` is not a time the SQL layers read (the pattern, then a real date)."""
    if not _created_at(created_at):
        raise MalformedEvent("created_at is not an ISO 8601 time like 2024-01-15T05:04:03Z")
    if not _real_date(created_at[:10]):
        raise MalformedEvent("created_at is not a real date")
    if created_at.endswith("Z"):
        return created_at[:10]
    return f"{dt.datetime.fromisoformat(created_at).astimezone(dt.UTC):%Y-%m-%d}"


def _integer_or_none(value: Any, field: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value in BIGINT_RANGE):
        return value
    raise MalformedEvent(f"{field} is not an integer of 64 bits")


def _text(event: dict, field: str) -> str:
    value = event.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and field == "id":
        return str(value)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{field} missing or not a string")
    return value


def bronze_row(event: Any, ensure_ascii: bool = False) -> dict[str, Any]:
    """The seed's Bronze row of one decoded event; MalformedEvent says why when it is not an event.
    `id`, `type` and `created_at` are required; `repo` and `actor` may be absent (null columns)."""
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    repo, actor = event.get("repo") or {}, event.get("actor") or {}
    if not isinstance(repo, dict) or not isinstance(actor, dict):
        raise MalformedEvent("repo or actor is not an object")
    row = {
        "id": _text(event, "id"),
        "type": _text(event, "type"),
        "created_at": _text(event, "created_at"),
        "repo_id": _integer_or_none(repo.get("id"), "repo.id"),
        "repo_name": repo.get("name"),
        "actor_id": _integer_or_none(actor.get("id"), "actor.id"),
        "actor_login": actor.get("login"),
        "payload_raw": json.dumps(event.get("payload"), ensure_ascii=ensure_ascii, separators=(",", ":")),
    }
    event_day(row["created_at"])
    return row


def encode_row(row: dict[str, Any]) -> bytes:
    """A Bronze row as one JSON line (no newline), UTF-8; a lone surrogate (valid JSON, not UTF-8)
    stays escaped."""
    try:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(row, separators=(",", ":")).encode()


class _Reference(msgspec.Struct):
    """An event's `repo` or `actor` as the fast decoder reads it (other keys are skipped)."""

    id: int | None = None
    name: str | None = None
    login: str | None = None


class _Event(msgspec.Struct):
    id: str | int
    type: str
    created_at: str
    repo: _Reference | None = None
    actor: _Reference | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")


class _BronzeRow(msgspec.Struct):
    """The Bronze line, its fields in the seed's column order."""

    id: str
    type: str
    created_at: str
    repo_id: int | None
    repo_name: str | None
    actor_id: int | None
    actor_login: str | None
    payload_raw: str


_decode_event = msgspec.json.Decoder(_Event).decode
_encode_row = msgspec.json.Encoder().encode


def bronze_line(line: bytes) -> tuple[bytes, str]:
    """One source line as one Bronze line (no newline) and the event's day (`event_day`);
    MalformedEvent when it is not an event.

    The common line takes the fast path: one typed decode that skips the payload, which is kept as
    the source wrote it. Anything it does not accept (a malformed line, an unusual but valid one:
    a lone surrogate, a number where a name was expected) takes the full path, which decides."""
    try:
        line.decode()  # the fast decoder skips what it does not read without checking its UTF-8
        event = _decode_event(line)
        row = _BronzeRow(str(event.id), event.type, event.created_at, *_reference(event.repo, "name"),
                         *_reference(event.actor, "login"), bytes(event.payload).decode())
        if row.id and row.type and row.created_at and _bigint(row.repo_id) and _bigint(row.actor_id):
            return _encode_row(row), event_day(row.created_at)
    except (ValueError, msgspec.MsgspecError):  # UnicodeError and MalformedEvent are ValueErrors
        pass
    return _bronze_line_checked(line)


def _bigint(value: int | None) -> bool:
    return value is None or value in BIGINT_RANGE


def _reference(reference: _Reference | None, label: str) -> tuple[int | None, str | None]:
    return (None, None) if reference is None else (reference.id, getattr(reference, label))


def _bronze_line_checked(line: bytes) -> tuple[bytes, str]:
    try:
        event = json.loads(line)
    except UnicodeDecodeError:
        raise MalformedEvent("not UTF-8") from None
    except ValueError:
        raise MalformedEvent("not JSON") from None
    row = bronze_row(event)
    try:
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate (valid JSON, not UTF-8): keep it escaped
        text = json.dumps(bronze_row(event, ensure_ascii=True), separators=(",", ":")).encode()
    return text, event_day(row["created_at"])

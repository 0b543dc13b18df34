"""The requests of the GitHub lakehouse ingestion DAGs: `github_ingestion` (one GH Archive hour
per run) and `github_events_api` (one poll of the Events API per run).

Each DAG's `FIELDS` become its Params (the trigger form); `parse_*` checks the same schemas.
Rules needing I/O (the connection exists) are checked by the first task.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.errors import BadRequest
from archiveflow.github_lakehouse.bronze import HOUR_PATTERN, GhHour
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
WHAT = "What to ingest"
SAFETY = "Limits"
CONNECTIONS = "Connections"

CONN_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,250}$"}

INGESTION_FIELDS: dict[str, Field] = {
    "hour": Field(None, {"type": ["string", "null"], "pattern": HOUR_PATTERN}, "Hour (UTC)",
                  "GH Archive hour to ingest, as GH Archive names it (`2024-01-15-5`). Empty = the run's data "
                  "interval (scheduled runs and backfills), or the last complete hour for a manual run.", WHAT),
    "max_malformed_percent": Field(
        1.0, {"type": "number", "minimum": 0, "maximum": 100}, "Malformed lines tolerated (%)",
        "Lines that are not GitHub events are counted and reported, not written. Above this share of the "
        "hour's lines the hour fails and nothing is written (a broken source, not a few bad lines).", SAFETY),
    "wait_timeout_minutes": Field(
        360, {"type": "number", "minimum": 0, "maximum": 10_080}, "Wait for the hour (minutes)",
        "How long to wait for the hour to be published (a deferred wait: no worker is held). "
        "0 = fail at once when it is missing.", SAFETY),
    "http_conn_id": Field("gharchive_default", CONN_ID, "GH Archive connection",
                          "HTTP connection whose host is the archive's base URL (https://data.gharchive.org); "
                          "any server serving `/<YYYY-MM-DD-H>.json.gz` works.", CONNECTIONS),
}

EVENTS_API_FIELDS: dict[str, Field] = {
    "per_page": Field(100, {"type": "integer", "minimum": 1, "maximum": 100}, "Events per page",
                      "`per_page` of each request (GitHub's maximum is 100).", WHAT),
    "max_pages": Field(3, {"type": "integer", "minimum": 1, "maximum": 10}, "Most pages per poll",
                       "Pages followed through the `Link: rel=\"next\"` header (GitHub serves 300 events at "
                       "most, 3 pages of 100).", WHAT),
    "max_rate_limit_wait_minutes": Field(
        60, {"type": "number", "minimum": 0, "maximum": 1440}, "Rate-limit wait (minutes)",
        "When the rate limit is exhausted the poll waits (deferred, no worker held) until it resets; "
        "a reset further away than this fails the poll instead.", SAFETY),
    "http_conn_id": Field("github_events_api_default", CONN_ID, "GitHub API connection",
                          "HTTP connection whose host is the API's base URL (https://api.github.com); put "
                          "`{\"Authorization\": \"Bearer <token>\"}` in its extra for the authenticated rate "
                          "limit.", CONNECTIONS),
}


@dataclass(frozen=True)
class IngestionRequest:
    hour: GhHour | None
    max_malformed_percent: float
    wait_timeout_minutes: float
    http_conn_id: str


@dataclass(frozen=True)
class EventsApiRequest:
    per_page: int
    max_pages: int
    max_rate_limit_wait_minutes: float
    http_conn_id: str


def parse_ingestion_request(conf: Mapping[str, Any]) -> IngestionRequest:
    values = check_fields(INGESTION_FIELDS, conf)
    if values["hour"]:
        try:
            values["hour"] = GhHour.parse(values["hour"])
        except ValueError as err:
            raise BadRequest("hour", str(err)) from None
    return IngestionRequest(**values)


def parse_events_api_request(conf: Mapping[str, Any]) -> EventsApiRequest:
    return EventsApiRequest(**check_fields(EVENTS_API_FIELDS, conf))


# --- github_gold ---------------------------------------------------------------------------------

DAY = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"}  # a real date: no 02-30

GOLD_FIELDS: dict[str, Field] = {
    "days": Field([], {"type": "array", "items": DAY, "maxItems": 366, "uniqueItems": True}, "Days to recompute",
                  "Event days (`2024-01-15`, UTC) whose Gold rows are recomputed from Silver. Empty = the days "
                  "named by the Silver updates that triggered the run (each `github_events_silver` Asset "
                  "event's `extra.days`).", WHAT),
    "recompute_event_time": Field(
        False, {"type": "boolean"}, "Move Silver to event time first",
        "For tables written before Silver and Gold filed events under their own time (`created_at`, UTC) "
        "instead of the day they arrived: first every Silver row is moved to its event's day, then Gold of "
        "`days` and of the day after each is deleted and recomputed. Give every day written before the "
        "change. A re-run changes nothing.", SAFETY),
}


@dataclass(frozen=True)
class GoldRequest:
    days: tuple[str, ...]
    recompute_event_time: bool = False


def parse_gold_request(conf: Mapping[str, Any]) -> GoldRequest:
    values = check_fields(GOLD_FIELDS, conf)
    if values["recompute_event_time"] and not values["days"]:
        raise BadRequest("days", "recompute_event_time needs the days written before the change")
    return GoldRequest(tuple(sorted(values["days"])), values["recompute_event_time"])


def gold_days(request: GoldRequest, asset_event_extras: list[Mapping[str, Any]]) -> list[str]:
    """The days a Gold run recomputes: the conf's (with the day after each when Silver rows move to
    their event's day: they leave the day they arrived), else every day the triggering Silver events name."""
    if request.recompute_event_time:
        after = {(dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat() for day in request.days}
        return sorted(set(request.days) | after)
    if request.days:
        return list(request.days)
    days = {day for extra in asset_event_extras for day in (extra or {}).get("days", [])}
    return sorted(day for day in days if re.match(DAY["pattern"], day))

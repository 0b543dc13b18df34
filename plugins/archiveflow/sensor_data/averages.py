"""The answer of `GET /sensors/{sensor_id}/average-temperature?from=…&to=…`, from the aggregates.

The range is half-open, [from, to), and truncated to whole hours: both bounds are rounded down to
the hour (10:30 → 10:00), because the aggregates are kept per hour. The answer gives the hours
used (`from`, `to`), what was asked (`requested_from`, `requested_to`) and `truncated_to_whole_hours`.
Without `from` and `to`, the answer covers every hour the sensor has data for. A bound without a
time zone is taken as UTC. Any date-time Python can hold in UTC (0001-01-01T00:00:00Z to
9999-12-31T23:59:59.999999Z) is a valid bound; anything else is BadRequest naming the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from archiveflow.errors import BadRequest
from archiveflow.sensor_data.aggregates import OVERALL, Stats
from archiveflow.sensor_data.pipeline import hourly_items
from archiveflow.sensor_data.readings import REASONS, is_sensor_id, shown, utc_text

HOUR = timedelta(hours=1)


def parse_bound(field: str, text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = " (a '+' in a URL must be written %2B, or use Z)" if " " in text else ""
        raise BadRequest(field, f"{shown(text)} is not an ISO 8601 date-time{hint}") from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise BadRequest(field, f"{shown(text)} is outside the date-times UTC can hold "
                                f"({utc_text(datetime.min.replace(tzinfo=UTC))} to "
                                f"{utc_text(datetime.max.replace(tzinfo=UTC))})") from None


def check_sensor_id(sensor_id: str) -> str:
    if not is_sensor_id(sensor_id):
        raise BadRequest("sensor_id", f"{shown(sensor_id)}: {REASONS['invalid_sensor_id']}")
    return sensor_id


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def average_temperature(table, sensor_id: str, start: datetime | None, end: datetime | None) -> dict[str, Any] | None:
    """The average over [start, end) truncated to hours; None when the sensor has no aggregates at all."""
    first = floor_hour(start) if start else None
    stop = floor_hour(end) if end else None
    if first and stop and first >= stop:
        raise BadRequest("to", f"the range [{utc_text(start)}, {utc_text(end)}) holds no whole hour once truncated "
                               "to hours: 'to' must be at least the hour after 'from' (e.g. from=10:00, to=11:00)")
    overall = table.get_item(Key={"sensor_id": sensor_id, "window_start": OVERALL}).get("Item")
    if overall is None:
        return None
    # [first, stop): `between` includes its upper bound, so the stop hour is dropped here.
    items = hourly_items(table, sensor_id, utc_text(first) if first else "0", utc_text(stop) if stop else "9")
    items = [item for item in items if not stop or item["window_start"] != utc_text(stop)]
    stats = Stats.combine([Stats.from_item(item) for item in items]) if items else None
    return {
        "sensor_id": sensor_id,
        "average_temperature": stats.mean if stats else None,
        "count": stats.count if stats else 0,
        "from": utc_text(first) if first else _first_hour(items),
        "to": utc_text(stop) if stop else _end_of_last_hour(items),
        "hours_covered": len(items),
        "min_temperature": stats.minimum if stats else None,
        "max_temperature": stats.maximum if stats else None,
        "truncated_to_whole_hours": bool((start and start != first) or (end and end != stop)),
        "requested_from": utc_text(start) if start else None,
        "requested_to": utc_text(end) if end else None,
    }


def _first_hour(items: list[dict[str, Any]]) -> str | None:
    return items[0]["window_start"] if items else None


def _end_of_last_hour(items: list[dict[str, Any]]) -> str | None:
    if not items:
        return None
    return utc_text(datetime.fromisoformat(items[-1]["window_start"]) + HOUR)

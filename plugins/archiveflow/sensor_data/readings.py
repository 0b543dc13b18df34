"""The reading contract of the `sensor-readings` stream, checked one record at a time.

A reading is a JSON object `{"sensor_id": str, "timestamp": ISO 8601 with a time zone,
"temperature": number in °C, ...optional fields}`. Anything else is quarantined with a reason
code (`REASONS`) and a message saying what was wrong. Plain Python: no Airflow, no AWS.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ABSOLUTE_ZERO_C = -273.15
# A sensor clock a little ahead of Kinesis' is normal; a reading from further in the future is not.
FUTURE_TOLERANCE = timedelta(minutes=15)
# Printable, no "/" (the id is a path segment of the API), at most 256 characters.
SENSOR_ID = re.compile(r"^[^/\x00-\x1f\x7f]{1,256}$")

REASONS = {
    "not_json": "the record is not UTF-8 JSON",
    "not_an_object": "the record is JSON but not an object",
    "missing_field": "a required field is absent or null",
    "invalid_sensor_id": "sensor_id is not a non-empty string of printable characters without '/'",
    "invalid_timestamp": "timestamp is not an ISO 8601 date-time with a time zone",
    "timestamp_in_future": "timestamp is later than the record's arrival in the stream",
    "invalid_temperature": "temperature is not a finite number",
    "temperature_below_absolute_zero": "temperature is below -273.15 °C",
}


@dataclass(frozen=True)
class StreamRecord:
    """One record as read from a shard."""

    stream: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrived_at: datetime
    data: bytes

    def source(self) -> dict[str, str]:
        return {"stream": self.stream, "shard_id": self.shard_id, "sequence_number": self.sequence_number,
                "partition_key": self.partition_key, "arrived_at": utc_text(self.arrived_at)}


@dataclass(frozen=True)
class Reading:
    sensor_id: str
    timestamp: datetime  # UTC
    temperature: float
    fields: dict[str, Any]  # the whole object as received, timestamp normalised to UTC

    @property
    def hour(self) -> datetime:
        return self.timestamp.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Rejected:
    reason: str  # a key of REASONS
    message: str


class _Malformed(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the one text form of an instant in storage and in the API."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_reading(data: bytes, arrived_at: datetime) -> Reading | Rejected:
    try:
        document = _decode(data)
        sensor_id = _sensor_id(document)
        timestamp = _timestamp(document, arrived_at)
        temperature = _temperature(document)
    except _Malformed as bad:
        return Rejected(bad.reason, bad.message)
    fields = {**document, "timestamp": utc_text(timestamp), "temperature": temperature}
    return Reading(sensor_id, timestamp, temperature, fields)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise _Malformed("not_json", f"not UTF-8 JSON: {err}") from None
    if not isinstance(document, dict):
        raise _Malformed("not_an_object", f"JSON {type(document).__name__}, not an object")
    return document


def _required(document: dict[str, Any], name: str) -> Any:
    if document.get(name) is None:
        raise _Malformed("missing_field", f"{name} is missing")
    return document[name]


def _sensor_id(document: dict[str, Any]) -> str:
    value = _required(document, "sensor_id")
    if not isinstance(value, str) or not value.strip() or not SENSOR_ID.match(value):
        raise _Malformed("invalid_sensor_id", f"sensor_id {value!r}: {REASONS['invalid_sensor_id']}")
    return value


def parse_instant(text: Any) -> datetime | None:
    """An ISO 8601 date-time with a time zone as a UTC datetime; None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _timestamp(document: dict[str, Any], arrived_at: datetime) -> datetime:
    value = _required(document, "timestamp")
    moment = parse_instant(value)
    if moment is None:
        raise _Malformed("invalid_timestamp", f"timestamp {value!r}: {REASONS['invalid_timestamp']}")
    if moment > arrived_at + FUTURE_TOLERANCE:
        raise _Malformed("timestamp_in_future", f"timestamp {value} is after the record arrived ({utc_text(arrived_at)})")
    return moment


def _temperature(document: dict[str, Any]) -> float:
    value = _required(document, "temperature")
    try:
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.nan
    if not math.isfinite(number):
        raise _Malformed("invalid_temperature", f"temperature {value!r} is not a finite number")
    if number < ABSOLUTE_ZERO_C:
        raise _Malformed("temperature_below_absolute_zero", f"temperature {value} °C is below absolute zero")
    return number

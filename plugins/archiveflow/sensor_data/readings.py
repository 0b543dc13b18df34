"""The reading contract of the `sensor-readings` stream, checked one record at a time.

A reading is a JSON object `{"sensor_id": str, "timestamp": ISO 8601 with a time zone,
"temperature": number in °C, ...optional fields}` within physical bounds (below). Anything else is
quarantined with a reason code (`REASONS`) and a message saying what was wrong: `parse_reading`
returns a `Reading` or a `Rejected` for any bytes whatever (tests/unit/sensor_data/test_contract_properties.py).
Plain Python: no Airflow, no AWS.

The bounds, and why:
- temperature in [-273.15, 10 000] °C: nothing is colder than absolute zero, and no thermometer
  reads above 10 000 °C (thermocouples stop near 2 300 °C, pyrometers near 3 500 °C; the Sun's
  surface is 5 500 °C). A bounded temperature keeps every sum, mean, min and max a number DynamoDB
  can store (at most 38 digits, magnitudes 1e-130 to 1e126): `1e300` overflowed it.
- temperature kept to 6 decimals (a micro-kelvin, finer than any thermometer resolves): `5e-324`
  underflowed DynamoDB's numbers; a reading sent with fewer decimals is unchanged.
- timestamp from 2001-01-01T00:00:00Z to 15 minutes after the record's arrival: a sensor clock that
  was never set reads 1970-01-01 (Unix) or 2000-01-01 (many real-time-clock chips), and a clock a
  little ahead of Kinesis' is normal; further ahead is not. Any instant Python cannot hold in UTC
  (`0001-01-01T00:00:00+01:00`) is an invalid timestamp.
- the whole document must be storable as UTF-8 JSON: no string (key or value) with an unpaired
  surrogate (`"\\ud800"`), no number beyond a double's range (`1e400`), nesting at most 32 deep.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ABSOLUTE_ZERO_C = -273.15
MAX_TEMPERATURE_C = 10_000.0
TEMPERATURE_DECIMALS = 6
EARLIEST_TIMESTAMP = datetime(2001, 1, 1, tzinfo=UTC)
# A sensor clock a little ahead of Kinesis' is normal; a reading from further in the future is not.
FUTURE_TOLERANCE = timedelta(minutes=15)
MAX_DEPTH = 32  # of nested arrays and objects; a reading is flat
# Printable, no "/" (the id is a path segment of the API), at most 256 characters (DynamoDB keys
# hold 2048 bytes), no unpaired surrogate.
SENSOR_ID = re.compile(r"^[^/\x00-\x1f\x7f\ud800-\udfff]{1,256}$")

REASONS = {
    "not_json": "the record is not UTF-8 JSON",
    "not_an_object": "the record is JSON but not an object",
    "missing_field": "a required field is absent or null",
    "invalid_sensor_id": "sensor_id is not a string of 1-256 printable characters without '/'",
    "invalid_timestamp": "timestamp is not an ISO 8601 date-time with a time zone (that UTC can hold)",
    "timestamp_too_early": "timestamp is before 2001-01-01T00:00:00Z (a sensor clock that was never set)",
    "timestamp_in_future": "timestamp is later than the record's arrival in the stream",
    "invalid_temperature": "temperature is not a finite number",
    "temperature_below_absolute_zero": "temperature is below -273.15 °C",
    "temperature_above_maximum": "temperature is above 10000 °C",
    "unstorable_json": "a string with an unpaired surrogate, a number beyond a double's range, or nesting deeper than 32",
    "unexpected_error": "checking the record raised an error the contract did not foresee (a defect: report it)",
    "batch_failed": "the record's batch failed 3 tries for a reason the pipeline did not foresee",
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


class Malformed(Exception):
    """A record (or a stored line) breaks the contract: `reason` is a key of REASONS."""

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
        temperature = checked_temperature(document)
        _check_storable(document)
    except Malformed as bad:
        return Rejected(bad.reason, bad.message)
    fields = {**document, "timestamp": utc_text(timestamp), "temperature": temperature}
    return Reading(sensor_id, timestamp, temperature, fields)


def shown(value: Any, limit: int = 80) -> str:
    """A value in a message: its repr (unpaired surrogates escaped), cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise Malformed("not_json", f"not UTF-8 JSON: {err}") from None
    except RecursionError:
        raise Malformed("not_json", "not JSON this parser can read: nested too deep") from None
    if not isinstance(document, dict):
        raise Malformed("not_an_object", f"JSON {type(document).__name__}, not an object")
    return document


def _required(document: dict[str, Any], name: str) -> Any:
    if document.get(name) is None:
        raise Malformed("missing_field", f"{name} is missing")
    return document[name]


def _sensor_id(document: dict[str, Any]) -> str:
    value = _required(document, "sensor_id")
    if not is_sensor_id(value):
        raise Malformed("invalid_sensor_id", f"sensor_id {shown(value)}: {REASONS['invalid_sensor_id']}")
    return value


def is_sensor_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and SENSOR_ID.match(value) is not None


def parse_instant(text: Any) -> datetime | None:
    """An ISO 8601 date-time with a time zone as a UTC datetime; None if it is not one, or if UTC
    cannot hold it (`0001-01-01T00:00:00+01:00` is before datetime.min in UTC)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _timestamp(document: dict[str, Any], arrived_at: datetime) -> datetime:
    value = _required(document, "timestamp")
    moment = parse_instant(value)
    if moment is None:
        raise Malformed("invalid_timestamp", f"timestamp {shown(value)}: {REASONS['invalid_timestamp']}")
    if moment < EARLIEST_TIMESTAMP:
        raise Malformed("timestamp_too_early", f"timestamp {value} is before {utc_text(EARLIEST_TIMESTAMP)}")
    if moment > arrived_at + FUTURE_TOLERANCE:
        raise Malformed("timestamp_in_future", f"timestamp {value} is after the record arrived ({utc_text(arrived_at)})")
    return moment


def checked_temperature(document: dict[str, Any]) -> float:
    """The document's temperature as a float within the bounds, to TEMPERATURE_DECIMALS; Malformed if not."""
    value = _required(document, "temperature")
    try:
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.nan
    if not math.isfinite(number):
        raise Malformed("invalid_temperature", f"temperature {shown(value)} is not a finite number")
    if number < ABSOLUTE_ZERO_C:
        raise Malformed("temperature_below_absolute_zero", f"temperature {shown(value)} °C is below absolute zero")
    if number > MAX_TEMPERATURE_C:
        raise Malformed("temperature_above_maximum", f"temperature {shown(value)} °C is above {MAX_TEMPERATURE_C:g} °C")
    return round(number, TEMPERATURE_DECIMALS) + 0.0  # + 0.0: no -0.0


def _check_storable(document: dict[str, Any]) -> None:
    """Every string is valid Unicode (UTF-8 cannot encode an unpaired surrogate), every number a
    finite double, nesting at most MAX_DEPTH deep: the raw line is then plain UTF-8 JSON."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise Malformed("unstorable_json", f"nested deeper than {MAX_DEPTH} arrays and objects")
            children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Malformed("unstorable_json", f"the string {shown(value)} holds an unpaired surrogate") from None
        elif isinstance(value, float) and not math.isfinite(value):
            raise Malformed("unstorable_json", f"the number {value} is beyond a double's range")

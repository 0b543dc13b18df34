"""The reading contract: what is accepted, normalised, and quarantined with which reason."""

import json
from datetime import UTC, datetime

import pytest

from archiveflow.sensor_data.readings import REASONS, Reading, Rejected, parse_reading

ARRIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def parse(document) -> Reading | Rejected:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_reading(data, ARRIVED)


def test_valid_reading_keeps_optional_fields_and_normalises_timestamp_to_utc():
    reading = parse({"sensor_id": "s-1", "timestamp": "2026-12-01T13:30:00+02:00", "temperature": 21,
                     "humidity": 40.5, "site": {"room": 3}})
    assert isinstance(reading, Reading)
    assert reading.timestamp == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    assert reading.hour == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert reading.temperature == 21.0 and isinstance(reading.temperature, float)
    assert reading.fields == {"sensor_id": "s-1", "timestamp": "2026-12-01T11:30:00Z", "temperature": 21.0,
                              "humidity": 40.5, "site": {"room": 3}}


@pytest.mark.parametrize(("data", "reason"), [
    (b"{not json", "not_json"),
    (b"\xff\xfe\x00", "not_json"),
    (b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": NaN}', "not_json"),
    ([1, 2], "not_an_object"),
    ({"timestamp": "2026-12-01T10:00:00Z", "temperature": 1.0}, "missing_field"),
    ({"sensor_id": "s", "timestamp": None, "temperature": 1.0}, "missing_field"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z"}, "missing_field"),
    ({"sensor_id": "", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1.0}, "invalid_sensor_id"),
    ({"sensor_id": "a/b", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1.0}, "invalid_sensor_id"),
    ({"sensor_id": 7, "timestamp": "2026-12-01T10:00:00Z", "temperature": 1.0}, "invalid_sensor_id"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00", "temperature": 1.0}, "invalid_timestamp"),
    ({"sensor_id": "s", "timestamp": "yesterday", "temperature": 1.0}, "invalid_timestamp"),
    ({"sensor_id": "s", "timestamp": 1764583200, "temperature": 1.0}, "invalid_timestamp"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T12:30:00Z", "temperature": 1.0}, "timestamp_in_future"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": "21.5"}, "invalid_temperature"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": True}, "invalid_temperature"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 10**400}, "invalid_temperature"),
    (b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1e400}', "invalid_temperature"),
    ({"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": -273.16}, "temperature_below_absolute_zero"),
])
def test_malformed_records_are_rejected_with_their_reason(data, reason):
    outcome = parse(data)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason == reason and reason in REASONS
    assert outcome.message


def test_absolute_zero_and_a_clock_slightly_ahead_are_accepted():
    assert isinstance(parse({"sensor_id": "s", "timestamp": "2026-12-01T12:10:00Z", "temperature": -273.15}), Reading)

"""`GET /sensors/{sensor_id}/average-temperature` over the whole range of its parameters, against the
emulator's aggregates table: every answer is 200, 404, or 422 naming the parameter; never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiveflow import resources
from archiveflow.sensor_data.aggregates import Stats, hour_item, overall_item

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 12, 1, 10, tzinfo=UTC)

offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)).map(
    lambda d: timezone(timedelta(minutes=d // timedelta(minutes=1))))
# Every date-time Python can write, with or without an offset, and any bytes at all.
bounds = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets).map(datetime.isoformat),
    st.datetimes(max_value=datetime.min + timedelta(days=1), timezones=offsets).map(datetime.isoformat),
    st.datetimes(min_value=datetime.max - timedelta(days=1), timezones=offsets).map(datetime.isoformat),
    st.datetimes(min_value=datetime.min, max_value=datetime.max).map(datetime.isoformat),
    st.binary(max_size=40),
)


def query(start, end) -> str:
    parts = []
    for name, value in (("from", start), ("to", end)):
        if value is not None:
            parts.append(f"{name}={quote_from_bytes(value if isinstance(value, bytes) else value.encode())}")
    return "&".join(parts)


@pytest.fixture
def sensor(local_stack):
    """A sensor with one hour of aggregates: two readings."""
    table = local_stack.resource("dynamodb").Table(resources.dynamodb_table("sensor-aggregates"))
    sensor_id = f"api-{uuid.uuid4().hex[:8]}"
    item = hour_item(sensor_id, HOUR, Stats.of([20.0, 22.0]))
    table.put_item(Item=item)
    table.put_item(Item=overall_item(sensor_id, [item]))
    return sensor_id


def test_any_from_and_to_are_answered_or_refused_naming_the_parameter(sensors_api, sensor):
    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(bounds, bounds)
    def check(start, end):
        answer = sensors_api.get(f"/{sensor}/average-temperature?{query(start, end)}")
        assert answer.status_code in (200, 422), answer.text
        if answer.status_code == 422:
            (detail,) = answer.json()["detail"]
            assert detail["loc"] in (["query", "from"], ["query", "to"]) and detail["msg"]
            assert (start, end)[detail["loc"][1] == "to"] is not None  # it names a parameter that was given
        else:
            assert answer.json()["count"] in (0, 2)

    check()


@pytest.mark.parametrize(("url", "status", "named"), [
    ("?from=0001-01-01T00:00:00%2B01:00", 422, "from"),  # before datetime.min once in UTC: was a 500
    ("?to=9999-12-31T23:59:59-01:00", 422, "to"),  # after datetime.max once in UTC
    ("?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z", 200, None),
    ("?to=0001-01-01T00:30:00Z", 200, None),  # the hour before `to` is not representable: nothing before it
    ("?from=9999-12-31T23:30:00Z", 200, None),
    ("?form=2026-12-01T10:00:00Z", 422, "form"),  # misspelt: would have answered for every hour
    ("?from=2026-12-01T10:00:00Z&from=2026-12-01T11:00:00Z", 422, "from"),
    ("?from=2026-12-01T10:00:00Z&to=2026-12-01T10:59:00Z", 422, "to"),
])
def test_the_edges_of_the_range(sensors_api, sensor, url, status, named):
    answer = sensors_api.get(f"/{sensor}/average-temperature{url}")
    assert answer.status_code == status, answer.text
    if named:
        assert answer.json()["detail"][0]["loc"] == ["query", named]
    elif "0001-01-01T00:00:00Z" in url:
        assert answer.json()["count"] == 2


def test_a_sensor_id_outside_the_contract_is_refused_naming_it(sensors_api):
    for sensor_id in ["x" * 257, "%20", "a%00b"]:
        answer = sensors_api.get(f"/{sensor_id}/average-temperature")
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["path", "sensor_id"], sensor_id
    assert sensors_api.get(f"/{'x' * 256}/average-temperature").status_code == 404

"""Property-based tests of the reading contract: whatever bytes arrive, a record is a reading or
quarantined with a reason, and what is stored of it can be written (raw/quarantine objects in
UTF-8, every aggregate number through DynamoDB's own serializer)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from boto3.dynamodb.types import TypeSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiveflow.sensor_data.aggregates import Stats, hour_item, overall_item
from archiveflow.sensor_data.readings import (
    ABSOLUTE_ZERO_C,
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    MAX_TEMPERATURE_C,
    REASONS,
    Reading,
    Rejected,
    StreamRecord,
    parse_reading,
)
from archiveflow.sensor_data.storage import batch_objects, read_jsonl_gz

ARRIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any character, unpaired surrogates included (Hypothesis leaves them out unless asked).
characters = st.one_of(st.characters(), st.characters(categories=["Cs"]))
text = st.text(characters, max_size=12)
numbers = st.one_of(st.integers(), st.integers(min_value=-(10**400), max_value=10**400), st.floats())
json_values = st.recursive(st.none() | st.booleans() | numbers | text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=12)
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
# Every instant Python can write, in any offset: the year 1 and 9999 in +/-hh:mm included.
instants = st.datetimes(min_value=datetime.min, max_value=datetime.max,
                        timezones=st.builds(timezone, offsets.map(lambda d: timedelta(minutes=d // timedelta(minutes=1)))))


def mostly(likely, anything):
    """`likely` 3 times in 4, else `anything`: enough valid readings for the storage properties."""
    return st.integers(0, 3).flatmap(lambda i: anything if i == 0 else likely)


plausible_instants = st.datetimes(min_value=datetime(2000, 6, 1), max_value=datetime(2027, 1, 1),
                                  timezones=st.just(UTC)).map(datetime.isoformat)
timestamps = mostly(plausible_instants, st.one_of(instants.map(datetime.isoformat),
                                                  st.datetimes().map(datetime.isoformat), text, numbers))
temperatures = mostly(st.floats(min_value=-300, max_value=11_000) | st.floats(min_value=-1e-300, max_value=1e-300),
                      st.one_of(numbers, text, st.sampled_from([1e300, -1e300, 5e-324, 10_000, 10_000.000001,
                                                                -273.15, -273.150001, 1e308, "21.5", True])))
sensor_ids = mostly(st.just("sensor-001") | st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1,
                                                    max_size=256), st.one_of(text, numbers))
readings = st.fixed_dictionaries({"sensor_id": sensor_ids, "timestamp": timestamps, "temperature": temperatures},
                                 optional={"humidity": json_values, "site": json_values, "location": text})


def record(data: bytes) -> StreamRecord:
    return StreamRecord("stream", "shardId-000000000000", "49590338271490256608559692538361571095921575989136588801",
                        "pk", ARRIVED, data)


def encodings(document) -> list[bytes]:
    """The document as a producer might send it: escaped (valid UTF-8 even with a surrogate, as
    `\\ud800`), raw UTF-8, and raw with the surrogate encoded anyway (invalid UTF-8)."""
    escaped = json.dumps(document, ensure_ascii=True).encode()
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return [escaped, raw]


def check_storable(data: bytes) -> Reading | Rejected:
    """The one property: a Reading or a Rejected with a known reason, and what the pipeline stores
    of the record (its batch's objects, the aggregates of the reading) can be written."""
    outcome = parse_reading(data, ARRIVED)
    assert isinstance(outcome, Reading | Rejected)
    objects = batch_objects([(record(data), outcome)])  # encodes UTF-8 and gzips each line
    (body,) = objects.values()
    (line,) = read_jsonl_gz(body)
    if isinstance(outcome, Rejected):
        assert outcome.reason in REASONS and outcome.message
        assert line["reason"] == outcome.reason
        return outcome
    assert ABSOLUTE_ZERO_C <= outcome.temperature <= MAX_TEMPERATURE_C
    assert EARLIEST_TIMESTAMP <= outcome.timestamp <= ARRIVED + FUTURE_TOLERANCE
    assert line["temperature"] == outcome.temperature and line["sensor_id"] == outcome.sensor_id
    serializer = TypeSerializer()  # what boto3 does to every item it writes: raises on what DynamoDB can't hold
    item = hour_item(outcome.sensor_id, outcome.hour, Stats.of([outcome.temperature] * 3))
    serializer.serialize(item)
    serializer.serialize(overall_item(outcome.sensor_id, [item, item]))
    return outcome


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_are_a_reading_or_quarantined_with_a_reason(data):
    check_storable(data)


@PROPERTY
@given(json_values)
def test_any_json_is_a_reading_or_quarantined_with_a_reason(document):
    for data in encodings(document):
        check_storable(data)


@PROPERTY
@given(readings)
def test_reading_shaped_json_with_any_field_values_is_a_reading_or_quarantined(document):
    for data in encodings(document):
        check_storable(data)


@PROPERTY
@given(st.lists(st.floats(min_value=ABSOLUTE_ZERO_C, max_value=MAX_TEMPERATURE_C), min_size=1, max_size=50),
       st.integers(min_value=1, max_value=10**6))
def test_aggregates_of_readings_within_the_bounds_are_numbers_dynamodb_holds(temperatures, repeat):
    outcomes = [parse_reading(json.dumps({"sensor_id": "s", "timestamp": "2026-12-01T11:00:00Z",
                                          "temperature": t}).encode(), ARRIVED) for t in temperatures]
    values = [o.temperature for o in outcomes]
    hour = Stats.of(values)
    many = Stats(hour.count * repeat, hour.total * repeat, hour.minimum, hour.maximum)  # a year of such hours
    item = hour_item("s", datetime(2026, 12, 1, 11, tzinfo=UTC), many)
    TypeSerializer().serialize(item)
    TypeSerializer().serialize(overall_item("s", [item, item]))


def test_the_records_found_so_far_are_quarantined_with_their_reason():
    found = {
        b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1e300}': "temperature_above_maximum",
        b'{"sensor_id": "\\ud800", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1}': "invalid_sensor_id",
        b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1, "note": "\\udc00"}':
            "unstorable_json",
        b'{"sensor_id": "s", "timestamp": "0001-01-01T00:00:00+01:00", "temperature": 1}': "invalid_timestamp",
        b'{"sensor_id": "s", "timestamp": "9999-12-31T23:59:59-01:00", "temperature": 1}': "invalid_timestamp",
        b'{"sensor_id": "s", "timestamp": "1970-01-01T00:00:00Z", "temperature": 1}': "timestamp_too_early",
        b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1, "x": 1e400}': "unstorable_json",
        b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1, "x": ' + b"[" * 40 + b"]" * 40
        + b"}": "unstorable_json",
        b"[" * 100_000: "not_json",
    }
    for data, reason in found.items():
        outcome = check_storable(data)
        assert isinstance(outcome, Rejected) and outcome.reason == reason, (data[:80], outcome)
    tiny = check_storable(b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": 1e-200}')
    assert isinstance(tiny, Reading) and tiny.temperature == 0.0  # kept to the micro-kelvin

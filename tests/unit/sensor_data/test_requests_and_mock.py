"""Request modules of both DAGs, and the mock generator."""

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from archiveflow.errors import BadRequest
from archiveflow.sensor_data import mock_request, request
from archiveflow.sensor_data.mock import MALFORMATIONS, MockPlan, mock_records
from archiveflow.sensor_data.readings import Reading, Rejected, parse_reading


def test_pipeline_request_defaults_and_refusals():
    parsed = request.parse_request({})
    assert (parsed.stream_name, parsed.max_records_per_shard, parsed.aws_conn_id) == (None, 50_000, "aws_default")
    with pytest.raises(BadRequest) as err:
        request.parse_request({"max_records_per_shard": 0})
    assert err.value.field == "max_records_per_shard"
    with pytest.raises(BadRequest) as err:
        request.parse_request({"stream_name": "no spaces allowed"})
    assert err.value.field == "stream_name"


@pytest.mark.parametrize(("conf", "field"), [
    ({"sensor_count": 0}, "sensor_count"),
    ({"late_fraction": 0.9}, "late_fraction"),
    ({"end_time": "tomorrow"}, "end_time"),
    ({"end_time": "2026-12-01T10:00:00"}, "end_time"),  # no time zone
    ({"sensor_prefix": "a/b"}, "sensor_prefix"),
])
def test_mock_request_refuses_bad_fields(conf, field):
    with pytest.raises(BadRequest) as err:
        mock_request.parse_request(conf)
    assert err.value.field == field


PLAN = MockPlan("t", 4, 30, 60, datetime(2026, 12, 1, 12, 0, tzinfo=UTC), 0.1, 0.2, 12, seed=7)


def test_mock_records_are_realistic_and_deterministic():
    records = mock_records(PLAN)
    assert [r.data for r in mock_records(PLAN)] == [r.data for r in records]
    kinds = Counter(r.kind for r in records)
    assert kinds["reading"] + kinds["late"] == 4 * 30 and kinds["late"] == 12
    outcomes = [parse_reading(r.data, datetime(2026, 12, 1, 12, 1, tzinfo=UTC)) for r in records]
    readings = [o for o in outcomes if isinstance(o, Reading)]
    rejected = Counter(o.reason for o in outcomes if isinstance(o, Rejected))
    assert len(readings) == 120 and sum(rejected.values()) == 12
    assert set(rejected) == set(MALFORMATIONS)  # every kind of malformation, each with its reason
    assert {r.sensor_id for r in readings} == {"t-001", "t-002", "t-003", "t-004"}
    assert all(-10 < r.temperature < 40 for r in readings)
    times = [r.timestamp for r in readings]
    assert times != sorted(times)  # some out of order, the late ones last
    assert min(times) < datetime(2026, 12, 1, 11, 0, tzinfo=UTC)  # late readings land in earlier hours


def test_no_two_mock_readings_share_a_sensor_and_timestamp():
    # A reading's identity (aggregates.py): a late reading moved 1-3 hours back must not land on
    # another reading's instant (the aggregates would count the two once).
    plan = MockPlan("t", 4, 3000, 60, datetime(2026, 12, 1, 12, 0, tzinfo=UTC), 0.5, 0.0, 0, seed=11)
    identities = [(r.partition_key, json.loads(r.data)["timestamp"]) for r in mock_records(plan)]
    assert len(identities) == len(set(identities)) == 12_000

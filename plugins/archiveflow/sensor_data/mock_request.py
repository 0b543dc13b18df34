"""The `sensor_mock_data` request: how many sensors and readings, how messy, where to send them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.request_fields import Field, check_fields
from archiveflow.sensor_data.request import CONN_ID, STREAM_NAME

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
WHAT = "Readings to generate"
DESTINATION = "Stream"
CONNECTIONS = "Connections"

FIELDS: dict[str, Field] = {
    "sensor_count": Field(5, {"type": "integer", "minimum": 1, "maximum": 1000}, "Sensors",
                          "How many sensors report.", WHAT),
    "readings_per_sensor": Field(60, {"type": "integer", "minimum": 1, "maximum": 10_000}, "Readings per sensor",
                                 "Readings each sensor sends.", WHAT),
    "interval_seconds": Field(60, {"type": "integer", "minimum": 1, "maximum": 86_400}, "Interval (seconds)",
                              "Time between two readings of one sensor.", WHAT),
    "end_time": Field(None, {"type": ["string", "null"], "format": "date-time"}, "Newest reading time",
                      "ISO 8601 time of each sensor's newest reading; empty = when the run was queued.", WHAT),
    "late_fraction": Field(0.05, {"type": "number", "minimum": 0, "maximum": 0.5}, "Late readings (fraction)",
                           "Share of readings sent last although measured 1-3 hours earlier.", WHAT),
    "out_of_order_fraction": Field(0.1, {"type": "number", "minimum": 0, "maximum": 1}, "Out of order (fraction)",
                                   "Share of readings swapped with their neighbour in the stream.", WHAT),
    "malformed_count": Field(6, {"type": "integer", "minimum": 0, "maximum": 10_000}, "Malformed records",
                             "Records that break the contract (not JSON, missing or bad fields).", WHAT),
    "sensor_prefix": Field("sensor", {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"},
                           "Sensor id prefix", "Sensors are named `<prefix>-001`, `<prefix>-002`, ...", WHAT),
    "seed": Field(None, {"type": ["integer", "null"], "minimum": 0}, "Random seed",
                  "Same seed, same readings; empty = derived from the run id (a retry sends the same readings).",
                  WHAT),
    "stream_name": Field(None, STREAM_NAME, "Kinesis stream",
                         "Stream to put the readings in; empty = the deployment's `sensor-readings` stream.",
                         DESTINATION),
    "aws_conn_id": Field("aws_default", CONN_ID, "AWS connection", "Airflow connection for Kinesis.", CONNECTIONS),
}


@dataclass(frozen=True)
class MockRequest:
    sensor_count: int
    readings_per_sensor: int
    interval_seconds: int
    end_time: str | None
    late_fraction: float
    out_of_order_fraction: float
    malformed_count: int
    sensor_prefix: str
    seed: int | None
    stream_name: str | None
    aws_conn_id: str


def parse_request(conf: Mapping[str, Any]) -> MockRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    return MockRequest(**check_fields(FIELDS, conf))

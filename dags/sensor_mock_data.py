"""sensor_mock_data (Airflow DAG): put realistic (and some malformed) sensor readings into the Kinesis stream."""

from __future__ import annotations

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.operators.sensor_data import PutMockSensorReadingsOperator
from archiveflow.sensor_data.mock_request import FIELDS

DOC = """
### Mock sensor data → Kinesis

Puts readings of several sensors into the `sensor-readings` Kinesis stream (or `stream_name`), as
a real fleet would send them: one reading per sensor every `interval_seconds`, ending at
`end_time` (default: when the run was queued), with a daily temperature cycle and noise. Some are
sent out of order, some late (measured 1–3 hours before they are sent: they land in earlier
hours), and `malformed_count` records break the contract (not JSON, a JSON array, temperature
missing, `"warm"` or below absolute zero, a timestamp without a time zone). `sensor_pipeline`
then stores and aggregates them; the malformed ones end in its quarantine.

| task | what it does |
|---|---|
| `put_readings` | checks the conf and the stream, generates the run's readings (same `seed` → same readings; by default the seed comes from the run id) and puts them in chunks of 500. Each chunk's item in the `runs` table (`pk = sensor_mock_data#<run id>`) lists the records Kinesis has not accepted yet (throttled), so a retry puts only those (a try killed between a chunk's put and its item puts that chunk again; `sensor_pipeline` stores each reading once all the same). |

Example conf:

```json
{"sensor_count": 5, "readings_per_sensor": 60, "interval_seconds": 60, "malformed_count": 6,
 "late_fraction": 0.05, "out_of_order_fraction": 0.1, "sensor_prefix": "sensor"}
```

Reading format: `{"sensor_id": "sensor-001", "timestamp": "2026-12-01T13:05:00.412000Z",
"temperature": 21.37, "humidity": 48.2, "location": "cold-room"}`; partition key = sensor id.
"""

with archiveflow_dag("sensor_mock_data", FIELDS, DOC,
                     description="Put realistic mock sensor readings (some late, out of order, malformed) into Kinesis",
                     tags=["sensors", "kinesis", "demo"]) as dag:
    PutMockSensorReadingsOperator(task_id="put_readings")

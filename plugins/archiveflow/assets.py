"""The Airflow Assets archiveflow's DAGs produce and consume. A DAG scheduled on an Asset runs
when a task with it in its `outlets` succeeds; the event's `extra` says what changed."""

from __future__ import annotations

from airflow.sdk import Asset

from archiveflow import resources

_LAKEHOUSE = f"s3://{resources.bucket('lakehouse')}/github"

# extra: {"days": ["2024-01-15"], "bronze_object": "s3://..."}: the Silver days that changed.
GITHUB_EVENTS_SILVER = Asset(name="github_events_silver", uri=f"{_LAKEHOUSE}/silver/", group="github_lakehouse")
# extra: {"days": ["2024-01-15"]}: the Gold days recomputed.
GITHUB_EVENTS_GOLD = Asset(name="github_events_gold", uri=f"{_LAKEHOUSE}/gold/", group="github_lakehouse")

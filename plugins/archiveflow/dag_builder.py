"""Airflow glue: the settings every archiveflow DAG shares, so a DAG file states only what is its own
(id, schedule, doc, tags, request fields, wiring)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from archiveflow.failpoints import RETRY_DELAY_VARIABLE
from archiveflow.params import dag_params
from archiveflow.request_fields import Field

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def archiveflow_dag(dag_id: str, fields: Mapping[str, Field], doc_md: str, *, description: str, tags: list[str],
                    schedule: Any = None, retry_delay: timedelta = timedelta(seconds=30),
                    default_args: Mapping[str, Any] | None = None, **dag_kwargs: Any) -> DAG:
    """A DAG owned by archiveflow: no catch-up, two retries, the trigger form from `fields`."""
    if override := os.environ.get(RETRY_DELAY_VARIABLE):
        retry_delay = timedelta(seconds=float(override))
    dag = DAG(
        dag_id=dag_id, description=description, schedule=schedule, start_date=START_DATE, catchup=False,
        doc_md=doc_md, tags=["archiveflow", *tags], params=dag_params(fields),
        default_args={"owner": "archiveflow", "retries": 2, "retry_delay": retry_delay, **(default_args or {})},
        **dag_kwargs,
    )
    dag.fileloc = sys._getframe(1).f_code.co_filename  # the DAG file, not this module (as @dag does)
    return dag

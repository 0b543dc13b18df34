"""Airflow glue: a request module's fields as a DAG's Params (the trigger form)."""

from __future__ import annotations

from collections.abc import Mapping

from airflow.sdk import Param

from archiveflow.request_fields import Field


def dag_params(fields: Mapping[str, Field]) -> dict[str, Param]:
    return {name: Param(field.default, description=field.description, title=field.title,
                        section=field.section, **field.schema)
            for name, field in fields.items()}

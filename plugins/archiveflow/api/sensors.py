"""`/sensors`: the average temperature of a sensor, from the aggregates sensor_pipeline writes.

Served by the Airflow API server as a plugin FastAPI app, behind the same authentication as the
Airflow REST API (a JWT from `POST /auth/token` as `Authorization: Bearer …`, or the UI's session
cookie) and the same authorization: a caller may read the averages when the auth manager lets them
read the `sensor_pipeline` DAG.

Airflow imports every module of the plugins folder in every component, task processes included:
FastAPI and the API's security module are imported inside `create_app`, which only the API server
calls. (No `from __future__ import annotations`: the routes' annotations name FastAPI's types,
imported in `create_app`, and FastAPI reads them when the routes are defined.)
"""

import functools
from typing import Any

from archiveflow import resources

PIPELINE_DAG_ID = "sensor_pipeline"
QUERY_PARAMETERS = ("from", "to")


@functools.cache
def aggregates_table():
    from airflow.configuration import conf
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    # [archiveflow] sensors_aws_conn_id (AIRFLOW__ARCHIVEFLOW__SENSORS_AWS_CONN_ID) picks another connection.
    aws_conn_id = conf.get("archiveflow", "sensors_aws_conn_id", fallback="aws_default")
    name = resources.dynamodb_table("sensor-aggregates")
    return DynamoDBHook(aws_conn_id=aws_conn_id, table_name=name).conn.Table(name)


@functools.cache
def create_app():
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, HTTPException, Path, Query, Request

    from archiveflow.api import new_app
    from archiveflow.errors import BadRequest
    from archiveflow.sensor_data.averages import average_temperature, check_sensor_id, parse_bound

    app = new_app("archiveflow sensors",
                  "Average temperature per sensor, from the sensor_pipeline aggregates (whole hours).",
                  lambda field: "path" if field == "sensor_id" else "query")

    def only_known_parameters(request: Request) -> None:
        """A misspelt parameter (`form=`) would otherwise answer for every hour, silently."""
        names = [name for name, _ in request.query_params.multi_items()]
        for name in names:
            if name not in QUERY_PARAMETERS:
                raise BadRequest(name, f"unknown query parameter; this endpoint takes {', '.join(QUERY_PARAMETERS)}")
            if names.count(name) > 1:
                raise BadRequest(name, "given more than once")

    @app.get("/{sensor_id}/average-temperature",
             dependencies=[Depends(requires_access_dag("GET", param_dag_id=PIPELINE_DAG_ID)),
                           Depends(only_known_parameters)])
    def get_average_temperature(
        sensor_id: str = Path(description="The sensor's id, as in its readings"),
        start: str | None = Query(None, alias="from", description="ISO 8601 start (inclusive), rounded down to the hour"),
        end: str | None = Query(None, alias="to", description="ISO 8601 end (exclusive), rounded down to the hour"),
    ) -> dict[str, Any]:
        answer = average_temperature(aggregates_table(), check_sensor_id(sensor_id), parse_bound("from", start),
                                     parse_bound("to", end))
        if answer is None:
            raise HTTPException(status_code=404, detail=f"no readings of sensor {sensor_id!r}")
        return answer

    return app

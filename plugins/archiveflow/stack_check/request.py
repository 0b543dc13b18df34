"""The `archiveflow_stack_check` request: which connections to check (the DAGs' defaults unless
the conf names others)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archiveflow.request_fields import Field, check_fields
from archiveflow.stack_check.checks import Connections

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
CONNECTIONS = "Connections to check"

_CONN_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,250}$"}

FIELDS: dict[str, Field] = {
    "aws_conn_id": Field("aws_default", _CONN_ID, "AWS connection",
                         "AWS connection for S3, DynamoDB, Glue/Iceberg and SNS.", CONNECTIONS),
    "postgres_conn_id": Field("postgres_default", _CONN_ID, "PostgreSQL connection",
                              "PostgreSQL connection (the rdbms_archival source).", CONNECTIONS),
    "lakehouse_sql_conn_id": Field("lakehouse_sql", _CONN_ID, "Lakehouse SQL connection",
                                   "Lakehouse SQL connection (Athena, or DuckDB locally).", CONNECTIONS),
}


def parse_request(conf: Mapping[str, Any]) -> Connections:
    return Connections(**check_fields(FIELDS, conf))

"""One small real round trip per service a deployment needs, each failing with a message that
names the service and the connection, so a misconfigured MWAA environment or local stack says
what is wrong in one line.

Provider hooks are imported inside the checks: the DAG file that imports this module must
parse fast."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import ClientError, EndpointConnectionError

from archiveflow import resources
from archiveflow.errors import ArchiveflowError

log = logging.getLogger(__name__)

PROBE_TABLE = "stack_check"


@dataclass(frozen=True)
class Connections:
    """The connections under test: the DAGs' defaults unless the run conf names others."""

    aws_conn_id: str = "aws_default"
    postgres_conn_id: str = "postgres_default"
    lakehouse_sql_conn_id: str = "lakehouse_sql"


class StackCheckError(ArchiveflowError):
    """A service failed its check; retried like any service error (it may be starting up)."""


@contextlib.contextmanager
def service(name: str, conn_id: str) -> Iterator[None]:
    """Turn any failure inside into a StackCheckError naming the service and connection."""
    started = time.monotonic()
    try:
        yield
    except StackCheckError:
        raise
    except EndpointConnectionError as err:
        raise StackCheckError(f"{name}: cannot reach {err.kwargs.get('endpoint_url')} "
                              f"(connection {conn_id!r}): is the endpoint up and the URL right?") from err
    except ClientError as err:
        error = err.response.get("Error", {})
        raise StackCheckError(f"{name}: {error.get('Code')}: {error.get('Message')} (connection {conn_id!r})") from err
    except Exception as err:  # deliberately broad: the check's job is to name ANY failure of the service
        raise StackCheckError(f"{name}: {type(err).__name__}: {err} (connection {conn_id!r})") from err
    log.info("%s: ok in %.2fs", name, time.monotonic() - started)


def check_postgres(run_id: str, conns: Connections) -> str:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    with service("PostgreSQL", conns.postgres_conn_id):
        version = PostgresHook(postgres_conn_id=conns.postgres_conn_id).get_first("SELECT version()")[0]
    return version.split(",")[0]


def check_s3(run_id: str, conns: Connections) -> str:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, key = resources.bucket("reports"), f"stack-check/{run_id}.txt"
    with service("S3", conns.aws_conn_id):
        s3 = S3Hook(aws_conn_id=conns.aws_conn_id)
        s3.load_string(run_id, key=key, bucket_name=bucket, replace=True)
        read_back = s3.read_key(key, bucket_name=bucket)
        s3.delete_objects(bucket, [key])
        if read_back != run_id:
            raise StackCheckError(f"S3: s3://{bucket}/{key} read back {read_back!r}, wrote {run_id!r}")
    return f"put/get/delete s3://{bucket}/{key}"


def check_dynamodb(run_id: str, conns: Connections) -> str:
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    table_name = resources.dynamodb_table("runs")
    key = {"pk": f"stack_check#{run_id}", "sk": "probe"}
    with service("DynamoDB", conns.aws_conn_id):
        table = DynamoDBHook(aws_conn_id=conns.aws_conn_id, table_name=table_name).get_conn().Table(table_name)
        table.put_item(Item={**key, "written_at": int(time.time())})
        item = table.get_item(Key=key, ConsistentRead=True).get("Item")
        table.delete_item(Key=key)
        if not item:
            raise StackCheckError(f"DynamoDB: item {key} written to {table_name} but not read back")
    return f"put/get/delete in {table_name}"


def check_iceberg(run_id: str, conns: Connections) -> str:
    import pyarrow as pa

    from archiveflow.hooks.iceberg import IcebergCatalogHook

    identifier = (resources.glue_database("archive"), PROBE_TABLE)
    rows = pa.table({"run_id": [run_id], "checked_at": pa.array([int(time.time())], pa.int64())})
    with service("Glue catalog + Iceberg on S3", conns.aws_conn_id):
        catalog = IcebergCatalogHook(aws_conn_id=conns.aws_conn_id).get_catalog()
        table = catalog.create_table_if_not_exists(identifier, schema=rows.schema)
        table.overwrite(rows)  # one row, replaced by each check: idempotent
        read_back = catalog.load_table(identifier).scan().to_arrow().column("run_id").to_pylist()
        if read_back != [run_id]:
            raise StackCheckError(f"Iceberg: {'.'.join(identifier)} holds {read_back}, expected [{run_id!r}]")
    return f"wrote and read {'.'.join(identifier)} through pyiceberg"


def check_sql_engine(run_id: str, conns: Connections) -> str:
    from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook

    hook = LakehouseSqlHook(conns.lakehouse_sql_conn_id)
    sql = f"SELECT count(*) FROM {resources.glue_database('archive')}.{PROBE_TABLE} WHERE run_id = ?"
    with service(f"Lakehouse SQL engine ({hook.engine})", hook.lakehouse_sql_conn_id):
        count = int(hook.get_records(sql, [run_id])[0][0])
        if count != 1:
            raise StackCheckError(f"SQL engine: expected 1 probe row for {run_id}, counted {count}")
    return f"{hook.engine} counted the probe row over S3"


def check_sns(run_id: str, conns: Connections) -> str:
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    from archiveflow.hooks.sns import declared_topic_arn

    with service("SNS", conns.aws_conn_id):
        sns = SnsHook(aws_conn_id=conns.aws_conn_id)
        arn = declared_topic_arn(sns, "notifications")
        if arn is None:
            raise StackCheckError(f"SNS: topic {resources.sns_topic('notifications')!r} does not exist "
                                  f"(connection {conns.aws_conn_id!r})")
        message_id = sns.publish_to_target(arn, f"archiveflow stack check {run_id}: SNS reachable")
    return f"published {message_id} to {arn}"


def check_kinesis(run_id: str, conns: Connections) -> str:
    from airflow.providers.amazon.aws.hooks.kinesis import KinesisHook

    # Read-only: a probe record would land in the sensor pipeline's data.
    stream = resources.kinesis_stream("sensor-readings")
    with service("Kinesis", conns.aws_conn_id):
        summary = KinesisHook(aws_conn_id=conns.aws_conn_id).conn.describe_stream_summary(StreamName=stream)
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise StackCheckError(f"Kinesis: stream {stream} is {status}")
    return f"stream {stream} is {status}"


# In the order the DAG runs them; the SQL engine reads the table the Iceberg check wrote.
CHECKS: dict[str, Callable[[str, Connections], str]] = {
    "postgres": check_postgres,
    "s3": check_s3,
    "dynamodb": check_dynamodb,
    "iceberg": check_iceberg,
    "sql_engine": check_sql_engine,
    "sns": check_sns,
    "kinesis": check_kinesis,
}

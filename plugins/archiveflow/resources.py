"""Physical names of the AWS resources declared in resources.yaml.

Tasks call these at run time (never at DAG parse time is required: reading a small packaged
file does no network I/O). Names are ``{prefix}-{logical}``; the prefix comes from
``ARCHIVEFLOW_NAME_PREFIX`` so one AWS account can host several deployments.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

RESOURCES_FILE = Path(__file__).with_name("resources.yaml")
DEFAULT_PREFIX = "archiveflow"


@functools.cache
def declared() -> dict[str, Any]:
    """The parsed resources.yaml."""
    return yaml.safe_load(RESOURCES_FILE.read_text())


def name_prefix() -> str:
    return os.environ.get("ARCHIVEFLOW_NAME_PREFIX", DEFAULT_PREFIX)


def _physical(kind: str, logical: str, sep: str = "-") -> str:
    if logical not in declared()[kind]:
        raise KeyError(f"{logical!r} is not declared under {kind} in {RESOURCES_FILE.name}")
    return f"{name_prefix()}{sep}{logical}"


def bucket(logical: str) -> str:
    return _physical("s3_buckets", logical)


def dynamodb_table(logical: str) -> str:
    return _physical("dynamodb_tables", logical)


def glue_database(logical: str) -> str:
    return _physical("glue_databases", logical, sep="_").replace("-", "_")


def kinesis_stream(logical: str) -> str:
    return _physical("kinesis_streams", logical)


def sns_topic(logical: str) -> str:
    return _physical("sns_topics", logical)


def sqs_queue(logical: str) -> str:
    return _physical("sqs_queues", logical)


def athena_workgroup(logical: str) -> str:
    return _physical("athena_workgroups", logical)


def batch_job_queue() -> str:
    return f"{name_prefix()}-{declared()['batch']['job_queue']}"


def batch_compute_environment() -> str:
    return f"{name_prefix()}-{declared()['batch']['compute_environment']}"


def batch_job_definition(logical: str) -> str:
    if logical not in declared()["batch"]["job_definitions"]:
        raise KeyError(f"{logical!r} is not declared under batch.job_definitions in {RESOURCES_FILE.name}")
    return f"{name_prefix()}-{logical}"

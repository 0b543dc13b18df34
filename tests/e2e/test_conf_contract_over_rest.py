"""The trigger (Airflow's Param check, HTTP 400) and each DAG's request module refuse exactly the
same confs, naming the same field: one definition of the fields, two enforcers. The DAGs are
paused while confs are posted, so the accepted runs stay queued and are deleted afterwards."""

from __future__ import annotations

import re
import uuid

import pytest

from archiveflow.deep_archive.request import FIELDS as DEEP_ARCHIVE_FIELDS
from archiveflow.dynamodb_archive import request as dynamodb_archive_request
from archiveflow.dynamodb_archive import restore_request as dynamodb_restore_request
from archiveflow.errors import BadRequest
from archiveflow.github_lakehouse import request as github_request
from archiveflow.rdbms_archival.request import parse_request as parse_archival
from archiveflow.request_fields import check_fields
from archiveflow.restore.request import FIELDS as RESTORE_FIELDS
from archiveflow.sensor_data import mock_request as sensor_mock_request
from archiveflow.sensor_data import request as sensor_pipeline_request
from archiveflow.stack_check.request import parse_request as parse_stack_check

pytestmark = pytest.mark.e2e

TABLE = {"table_name": "products", "condition": "Index < 20"}
ARCHIVAL_CONFS = [
    {}, {"glue_connection": "postgres_default"}, {"glue_connection": "../../etc"}, {"glue_connection": ""},
    {"source_database": None}, {"source_database": "a b"}, {"source_database": "x" * 64},
    {"source_schema": "postgres_test_schema"}, {"source_schema": "x; DROP SCHEMA y"}, {"source_schema": 5},
    {"source_table": [TABLE]}, {"source_table": []}, {"source_table": [{"condition": "Index < 1"}]},
    {"source_table": [{**TABLE, "sql": "x"}]}, {"source_table": [{"table_name": 'products"; --'}]},
    {"source_table": [{**TABLE, "condition": 1}]}, {"source_table": [{**TABLE, "condition": ""}]},
    {"source_table": [TABLE] * 101}, {"source_table": "products"},
    {"legal_hold": True}, {"legal_hold": "no"}, {"retention_policy": 0}, {"retention_policy": "6"},
    {"retention_policy": -1}, {"retention_policy": 1201}, {"triggered_by": ""}, {"triggered_by": "Gokul"},
    {"triggered_by_email": "not-an-address"}, {"triggered_by_email": "gokul@example.com"},
    {"purge": "yes"}, {"purge": True, "dry_run": True}, {"dry_run": 1}, {"target_glue_database": "Upper-Case"},
    {"target_glue_database": "archive_db"}, {"batch_size": 10}, {"batch_size": 1_000_001}, {"batch_size": 5000},
    {"unknown_field": 1},
]
DEEP_ARCHIVE_CONFS = [
    {}, {"project_name": "finance"}, {"project_name": "no spaces please"}, {"project_name": ""},
    {"project_name": "x" * 65}, {"bucket_name": "archiveflow-source"}, {"bucket_name": "UPPER"},
    {"bucket_name": "ab"}, {"prefix": ""}, {"prefix": "reports/"}, {"prefix": 3},
    {"file_count": 0}, {"file_count": 100_000}, {"file_count": 100_001}, {"file_count": "10"},
    {"archive_size": 0}, {"archive_size": 102_400}, {"archive_size": 200_000}, {"archive_size": 1.5},
    {"account": "1234"}, {"account": "123456789012"}, {"account": 123456789012},
    {"region": "us-east-1"}, {"region": "Mars-1"}, {"storage_class": "GLACIER"}, {"storage_class": "COLD"},
    {"storage_class": None}, {"output_prefix": "finance/2026-10"}, {"output_prefix": "../escape"},
    {"output_prefix": "a//b"}, {"output_prefix": "_plans"}, {"output_prefix": "_plans/mine"},
    {"output_prefix": "a" * 200}, {"output_prefix": "a" * 201}, {"archive_bucket": "archiveflow-archive"}, {"archive_bucket": "Bad_Bucket"},
    {"dry_run": "yes"}, {"dry_run": True}, {"delete_source": "false"}, {"delete_source": False},
    {"require_approval": 0}, {"require_approval": False},
]
RESTORE_CONFS = [
    {}, {"filename": "5000_20240517_003.csv"}, {"filename": ""}, {"filename": "a\x00b"}, {"filename": 5},
    {"files": ["a.csv", "bucket/key.csv"]}, {"files": "a.csv"}, {"files": [""]}, {"files": ["x"] * 1001},
    {"project_name": "amazon"}, {"project_name": "has space"}, {"account": "1234567890"},
    {"account": "123456789012"}, {"region": "ap-south-1"}, {"region": "Mars"}, {"retrieval_tier": "Expedited"},
    {"retrieval_tier": "Fast"}, {"retrieval_tier": None}, {"sns_topic_arn": "ARN"},
    {"sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:archiveflow-notifications"}, {"restore_days": 0},
    {"restore_days": 30}, {"restore_days": 31}, {"restore_bucket": "archiveflow-restore"},
    {"restore_bucket": "Bad_Bucket"}, {"destination_prefix": "restores/2026"}, {"destination_prefix": "../up"},
    {"max_wait": 0}, {"max_wait": 0.5}, {"max_wait": 241}, {"poll_interval": 0}, {"poll_interval": 60},
    {"version": 0}, {"version": 2}, {"version": "2026-01-01T00:00:00+00:00#abc"}, {"version": ""},
    {"dry_run": "yes"}, {"dry_run": True},
]
STACK_CHECK_CONFS = [
    {}, *({name: value} for name in ("aws_conn_id", "postgres_conn_id", "lakehouse_sql_conn_id")
          for value in ("ok_conn", "", "has space", 7, None, "x" * 251, "a.b-c_d", ["list"], "../etc", "new\nline")),
]

# Values that break most schemas in some way, tried on every field of the DAGs below (whose confs
# are not hand-written above): what each enforcer makes of them must agree.
PROBES = (None, "", "x" * 300, -1, 0, 1, 100, 10**6, 2**31, 1.5, -0.5, True, False, "a b", "UPPER", "../etc",
          "new\nline", "é", "aws_default", "2024-01-15-13", "2024-01-15-24", "2026-12-01", "2026-02-30",
          "2026-12-01T10:00:00", "2026-12-01T10:00:00Z", [], ["x"], ["2026-12-01"], ["2026-02-30"],
          ["2026-12-01", "2026-12-01"], [1, 2], {}, {"k": 1})


def probe_confs(fields, companions: dict[str, dict] | None = None) -> list[dict]:
    """Each field alone with each probe value. A field that a cross-field rule of the request module
    ties to another (no Param schema can say so: the first task refuses it) gets that companion."""
    companions = companions or {}
    return [{}, *({name: value, **companions.get(name, {})} for name in fields for value in PROBES)]


GENERATED = [
    ("dynamodb_delete_archive", dynamodb_archive_request.FIELDS, dynamodb_archive_request.parse_request),
    ("dynamodb_restore_items", dynamodb_restore_request.FIELDS, dynamodb_restore_request.parse_request),
    ("sensor_mock_data", sensor_mock_request.FIELDS, sensor_mock_request.parse_request),
    ("sensor_pipeline", sensor_pipeline_request.FIELDS, sensor_pipeline_request.parse_request),
    ("github_ingestion", github_request.INGESTION_FIELDS, github_request.parse_ingestion_request),
    ("github_events_api", github_request.EVENTS_API_FIELDS, github_request.parse_events_api_request),
    ("github_gold", github_request.GOLD_FIELDS, github_request.parse_gold_request),
]

# github_gold: recompute_event_time needs days (unit-tested in tests/unit/github_lakehouse).
COMPANIONS = {"github_gold": {"recompute_event_time": {"days": ["2024-01-15"]}}}

CASES = [*((dag_id, probe_confs(fields, COMPANIONS.get(dag_id)), parse) for dag_id, fields, parse in GENERATED),
         ("rdbms_archival", ARCHIVAL_CONFS, parse_archival),
         ("s3_deep_archive", DEEP_ARCHIVE_CONFS, lambda conf: check_fields(DEEP_ARCHIVE_FIELDS, conf)),
         ("s3_restore", RESTORE_CONFS, lambda conf: check_fields(RESTORE_FIELDS, conf)),
         ("archiveflow_stack_check", STACK_CHECK_CONFS, parse_stack_check)]


def refused_field(parse, conf: dict) -> str | None:
    """The top-level field the request module names, or None when it accepts the conf."""
    try:
        parse(conf)
    except BadRequest as err:
        return re.split(r"[.\[]", err.field)[0]
    return None


@pytest.mark.parametrize(("dag_id", "confs", "parse"), CASES, ids=[case[0] for case in CASES])
def test_the_trigger_refuses_exactly_what_the_request_module_refuses(airflow_stack, dag_id, confs, parse):
    assert len(confs) >= 30
    airflow_stack.wait_for_dag(dag_id)
    paused = airflow_stack.session.patch(f"{airflow_stack.base_url}/api/v2/dags/{dag_id}", json={"is_paused": True},
                                         timeout=30)
    assert paused.status_code == 200, paused.text
    created = []
    try:
        mismatches = []
        for conf in confs:
            response = airflow_stack.trigger(dag_id, conf, run_id=f"contract__{uuid.uuid4().hex[:10]}")
            assert response.status_code in (200, 400), response.text
            expected = refused_field(parse, conf)
            if response.status_code == 200:
                created.append(response.json()["dag_run_id"])
                refused = None
            else:
                refused = re.search(r"Invalid input for param (\w+)", response.json()["detail"]).group(1)
            if refused != expected:
                mismatches.append((conf, f"REST refused {refused}", f"request module refused {expected}"))
        assert mismatches == []
        assert 0 < len(created) < len(confs)  # both outcomes were exercised
    finally:
        for run_id in created:
            airflow_stack.session.delete(f"{airflow_stack.base_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=30)
        airflow_stack.session.patch(f"{airflow_stack.base_url}/api/v2/dags/{dag_id}", json={"is_paused": False},
                                    timeout=30)

"""The run conf: the seed's payload is accepted as-is; bad fields are named."""

from __future__ import annotations

import pytest

from archiveflow.errors import BadRequest
from archiveflow.rdbms_archival.request import FIELDS, parse_request

SEED_PAYLOAD = {
    "glue_connection": "postgres_connection",
    "legal_hold": False,
    "retention_policy": 6,
    "source_database": "postgres_databse_eeql",
    "source_schema": "postgres_test_schema",
    "source_table": [
        {"table_name": "products", "condition": "Index < 20",
         "query": "SELECT * FROM postgres_test_schema.products WHERE Index < 20"},
        {"table_name": "leads", "condition": "Index < 50"},
        {"table_name": "customers"},
    ],
    "triggered_by": "Gokul",
    "triggered_by_email": "gokul@example.com",
}


def test_the_seed_payload_is_accepted_with_safe_defaults():
    request = parse_request(SEED_PAYLOAD)
    assert [t.table_name for t in request.source_table] == ["products", "leads", "customers"]
    assert request.source_table[2].condition is None and request.source_table[0].query.startswith("SELECT")
    assert (request.purge, request.dry_run, request.target_glue_database) == (False, False, None)
    assert request.as_conf()["source_table"][1] == {"table_name": "leads", "condition": "Index < 50", "query": None}


@pytest.mark.parametrize(("change", "field"), [
    ({"retention_policy": -1}, "retention_policy"),
    ({"retention_policy": "6"}, "retention_policy"),
    ({"legal_hold": "no"}, "legal_hold"),
    ({"batch_size": 10}, "batch_size"),
    ({"read_streams": 9}, "read_streams"),  # capped: each stream is a backend on the source database
    ({"read_streams": 0}, "read_streams"),
    ({"parallel_read_min_mb": -1}, "parallel_read_min_mb"),
    ({"source_schema": "x; DROP SCHEMA y"}, "source_schema"),
    ({"source_database": "a b"}, "source_database"),
    ({"glue_connection": "../../etc"}, "glue_connection"),
    ({"triggered_by_email": "not-an-address"}, "triggered_by_email"),
    ({"target_glue_database": "Upper-Case"}, "target_glue_database"),
    ({"source_table": []}, "source_table"),
    ({"source_table": [{"condition": "Index < 1"}]}, "source_table[0]"),
    ({"source_table": [{"table_name": "products", "sql": "x"}]}, "source_table[0]"),
    ({"source_table": [{"table_name": 'products"; --'}]}, "source_table[0].table_name"),
    ({"source_table": [{"table_name": "products", "condition": 1}]}, "source_table[0].condition"),
])
def test_bad_fields_are_named(change, field):
    with pytest.raises(BadRequest) as error:
        parse_request({**SEED_PAYLOAD, **change})
    assert error.value.field == field and str(error.value).startswith(field)


def test_every_field_has_a_description_and_a_valid_default():
    assert all(f.description and f.title and f.section for f in FIELDS.values())
    parse_request({})  # all defaults together are a valid request


@pytest.fixture(scope="module")
def dag_params():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder="dags/rdbms_archival.py").dags["rdbms_archival"].params


@pytest.mark.parametrize("change", [
    {"retention_policy": -1},
    {"source_table": [{"table_name": "products; DROP TABLE x"}]},
    {"source_table": [{"table_name": "products", "where": "1=1"}]},
    {"purge": "yes"},
    {"batch_size": 0},
])
def test_the_dag_params_refuse_what_the_schema_forbids(dag_params, change):
    """What the Param schemas express is refused at trigger time (the REST API answers 400)."""
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(dict(dag_params.items()))
    params.update(SEED_PAYLOAD)
    params.validate()  # the seed's payload is valid
    with pytest.raises(ParamValidationError, match=next(iter(change))):
        params.update(change)  # setting a value validates it


def test_a_hold_cannot_be_set_and_released_in_one_run_and_safety_opt_ins_default_off():
    request = parse_request(SEED_PAYLOAD)
    assert (request.release_legal_hold, request.allow_purge_cascade) == (False, False)
    assert parse_request({**SEED_PAYLOAD, "release_legal_hold": True}).release_legal_hold
    with pytest.raises(BadRequest, match="^release_legal_hold: "):
        parse_request({**SEED_PAYLOAD, "legal_hold": True, "release_legal_hold": True})
    with pytest.raises(BadRequest, match="^allow_purge_cascade: "):
        parse_request({**SEED_PAYLOAD, "allow_purge_cascade": "yes"})

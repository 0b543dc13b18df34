"""Both DAGs' requests: bad input is refused naming the field, exactly as the trigger form refuses
it; the configured table list; conf keys for a restore."""

import pytest

from archiveflow.dynamodb_archive import config, request, restore_request
from archiveflow.dynamodb_archive.restore import typed_key
from archiveflow.errors import BadRequest


def test_archive_defaults_to_the_configured_tables_and_bucket():
    parsed = request.parse_request({})
    assert (parsed.tables, parsed.bucket, parsed.time_budget_minutes) == (None, None, 10)
    assert request.parse_request({"tables": ["a-table", "orders.v2"]}).tables == ("a-table", "orders.v2")


@pytest.mark.parametrize(("conf", "field"), [
    ({"tables": []}, "tables"),
    ({"tables": ["ok-table", "no/slash"]}, "tables[1]"),
    ({"tables": ["twice", "twice"]}, "tables"),
    ({"bucket": "Not_A_Bucket"}, "bucket"),
    ({"time_budget_minutes": 0}, "time_budget_minutes"),
])
def test_archive_bad_input_names_the_field(conf, field):
    with pytest.raises(BadRequest) as error:
        request.parse_request(conf)
    assert error.value.field == field


def test_configured_tables_from_the_file_and_the_variable(tmp_path):
    path = tmp_path / "tables.yaml"
    path.write_text('tables:\n  - "{prefix}-tracked-items"\n  - orders\n')
    assert config.tables_from_file(path, "acme") == ["acme-tracked-items", "orders"]
    assert config.tables_from_variable('["orders", "users"]') == ["orders", "users"]
    with pytest.raises(BadRequest, match="Variable dynamodb_archive_tables"):
        config.tables_from_variable("orders, users")
    with pytest.raises(BadRequest) as error:
        config.tables_from_variable('["orders", "bad name"]')
    assert error.value.field == "tables[1]"


def test_the_shipped_table_list_is_valid():
    from archiveflow.paths import include_path

    assert config.tables_from_file(include_path("dynamodb_archive", "tables.yaml"), "archiveflow") == [
        "archiveflow-tracked-items"]


@pytest.mark.parametrize(("conf", "field"), [
    ({}, "table"),
    ({"table": "tbl", "keys": []}, "keys"),
    ({"table": "tbl", "keys": [{"PK": ["list"]}]}, "keys[0].PK"),
    ({"table": "tbl", "deleted_after": "yesterday"}, "deleted_after"),
    ({"table": "tbl", "deleted_after": "2026-11-30T00:00:00"}, "deleted_after"),  # no time zone
    ({"table": "tbl", "deleted_before": "0001-01-01T00:00:00+01:00"}, "deleted_before"),  # before UTC's first
    ({"table": "tbl", "deleted_after": "2026-11-30T00:00:00Z", "deleted_before": "2026-11-29T00:00:00Z"},
     "deleted_before"),
])
def test_restore_bad_input_names_the_field(conf, field):
    with pytest.raises(BadRequest) as error:
        restore_request.parse_request(conf)
    assert error.value.field == field


def test_restore_keys_are_typed_by_the_tables_key_schema():
    types = {"PK": "S", "SK": "N"}
    assert typed_key({"PK": "USER#1", "SK": 3}, types, "keys[0]") == {"PK": {"S": "USER#1"}, "SK": {"N": "3"}}
    assert typed_key({"B": {"B": "AAE="}}, {"B": "B"}, "keys[0]") == {"B": {"B": b"\x00\x01"}}
    for bad, field in [({"PK": "x"}, "keys[2]"), ({"PK": "x", "SK": "3"}, "keys[2].SK"),
                       ({"PK": 1, "SK": 3}, "keys[2].PK")]:
        with pytest.raises(BadRequest) as error:
            typed_key(bad, types, "keys[2]")
        assert error.value.field == field

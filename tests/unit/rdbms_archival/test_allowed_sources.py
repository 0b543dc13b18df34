"""System schemas are never a source; a connection's allow-list narrows the rest; a driver's
message never carries the connection string or its password."""

from __future__ import annotations

import pytest

from archiveflow.errors import BadRequest
from archiveflow.rdbms_archival.allowed_sources import AllowedSources
from archiveflow.rdbms_archival.session import without_password


@pytest.mark.parametrize("schema", ["pg_catalog", "information_schema", "pg_toast", "pg_temp_3", "pg_toast_temp_3"])
def test_system_schemas_are_refused_even_when_allow_listed(schema):
    assert AllowedSources().refusal(schema, "x")[0] == "schema"
    assert AllowedSources((schema,)).refusal(schema, "x")[0] == "schema"


def test_allow_list_names_schemas_or_tables_exactly():
    allowed = AllowedSources(("sales", "crm.customers"))
    assert allowed.refusal("sales", "orders") is None and allowed.refusal("crm", "customers") is None
    assert allowed.refusal("crm", "leads")[0] == "table"
    assert allowed.refusal("Sales", "orders")[0] == "schema"  # PostgreSQL's names, case-sensitive
    assert AllowedSources().refusal("public", "anything") is None


@pytest.mark.parametrize("extra", [{"archiveflow_allowed_sources": "sales"},
                                   {"archiveflow_allowed_sources": ["sales", 3]},
                                   {"archiveflow_allowed_sources": [""]}])
def test_a_malformed_allow_list_is_a_bad_connection(extra):
    with pytest.raises(BadRequest, match="archiveflow_allowed_sources") as error:
        AllowedSources.from_extra(extra, "src")
    assert error.value.field == "glue_connection"


def test_driver_messages_lose_the_connection_string_and_password():
    conninfo = "host=db user=u password='s3cr3t pw' dbname=d"
    message = f"could not connect with {conninfo}: password s3cr3t pw rejected"
    assert without_password(message, conninfo) == "could not connect with <connection string>: password *** rejected"

"""Requests refused naming the field; the Bronze table's one definition (DDL → Glue) is the seed's."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from archiveflow.errors import BadRequest
from archiveflow.github_lakehouse.bronze import COLUMNS, GhHour
from archiveflow.github_lakehouse.catalog import bronze_ddl, bronze_table_input
from archiveflow.github_lakehouse.request import (
    parse_events_api_request,
    parse_gold_request,
    parse_ingestion_request,
)
from archiveflow.triggers.http_object import HttpObjectPublishedTrigger


@pytest.mark.parametrize(("conf", "field"), [
    ({"hour": "2024-01-15-24"}, "hour"), ({"hour": "2024-02-30-1"}, "hour"), ({"hour": "yesterday"}, "hour"),
    ({"max_malformed_percent": 101}, "max_malformed_percent"), ({"wait_timeout_minutes": -1}, "wait_timeout_minutes"),
    ({"http_conn_id": "bad id!"}, "http_conn_id"),
])
def test_bad_ingestion_conf_names_the_field(conf, field):
    with pytest.raises(BadRequest) as raised:
        parse_ingestion_request(conf)
    assert raised.value.field == field


def test_defaults():
    request = parse_ingestion_request({})
    assert (request.hour, request.http_conn_id) == (None, "gharchive_default")
    assert parse_ingestion_request({"hour": "2024-01-15-5"}).hour == GhHour.parse("2024-01-15-5")
    assert parse_events_api_request({}).http_conn_id == "github_events_api_default"
    with pytest.raises(BadRequest, match="per_page"):
        parse_events_api_request({"per_page": 101})


def test_glue_definition_is_the_seeds_bronze_table_with_projection():
    table = bronze_table_input("lake_db", "lake-bucket")
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == list(COLUMNS)
    assert {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}["repo_id"] == "bigint"
    assert table["PartitionKeys"] == [{"Name": "ingest_dt", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == "s3://lake-bucket/github/events/"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    params = table["Parameters"]
    assert params["projection.ingest_dt.type"] == "date" and params["projection.ingest_dt.format"] == "yyyy-MM-dd"
    assert params["storage.location.template"] == "s3://lake-bucket/github/events/ingest_dt=${ingest_dt}/"
    assert "`lake_db`.`github_events_bronze`" in bronze_ddl("lake_db", "lake-bucket")


def test_trigger_serializes_and_times_out():
    trigger = HttpObjectPublishedTrigger("gharchive_default", "2024-01-15-5.json.gz", deadline=0.0, poke_interval=1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "archiveflow.triggers.http_object.HttpObjectPublishedTrigger"
    assert HttpObjectPublishedTrigger(**pickle.loads(pickle.dumps(kwargs))).serialize() == (classpath, kwargs)

    async def first_event():
        async def unreachable(hook):
            return None, "ClientConnectorError: refused"
        trigger._status = unreachable
        return await anext(trigger.run())

    event = asyncio.run(first_event())
    assert event.payload == {"status": "timeout", "endpoint": "2024-01-15-5.json.gz",
                             "message": "ClientConnectorError: refused"}


def test_recompute_event_time_needs_the_days_written_before():
    with pytest.raises(BadRequest) as error:
        parse_gold_request({"recompute_event_time": True})
    assert error.value.field == "days"
    assert parse_gold_request({"recompute_event_time": True, "days": ["2024-01-15"]}).recompute_event_time

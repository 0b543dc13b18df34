"""The emulator's DynamoDB answers written with `json` (devstack/moto_server.py) equal moto's own
shape-walking serializer, for every attribute type and every data-plane operation: a server of
its own runs with ARCHIVEFLOW_MOTO_CHECK_FAST_JSON=1, which computes both and fails the request
(HTTP 500) where they differ."""

from __future__ import annotations

import socket
import subprocess
import sys
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from devstack import stack
from devstack.processes import wait_for_http

pytestmark = pytest.mark.integration

ITEM = {"pk": "a", "sk": 1, "s": "text ✓", "n": Decimal("12.5"), "big": Decimal("123456789012345678901234567890"),
        "b": b"\x00\xffbytes", "t": True, "f": False, "none": None, "m": {"x": [1, "y", b"z", {"deep": None}]},
        "l": [], "ss": {"one", "two"}, "ns": {Decimal(1), Decimal("2.5")}, "bs": {b"p", b"q"}, "empty": ""}


@pytest.fixture(scope="module")
def checking_dynamodb():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**stack.base_env(), "ARCHIVEFLOW_MOTO_CHECK_FAST_JSON": "1"}
    server = subprocess.Popen([sys.executable, "-m", "devstack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                              env=env, cwd=stack.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", 60, "checking emulator", None)
        yield boto3.resource("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    finally:
        server.terminate()
        server.wait(10)


def test_every_type_and_data_plane_operation_answers_as_moto_serializes(checking_dynamodb):
    client = checking_dynamodb.meta.client
    table = checking_dynamodb.create_table(
        TableName="fast-json", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "s", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-s", "KeySchema": [{"AttributeName": "s", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    assert table.put_item(Item=ITEM, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert table.put_item(Item={**ITEM, "t": False}, ReturnValues="ALL_OLD")["Attributes"] == ITEM
    with table.batch_writer() as batch:
        for sk in range(2, 40):
            batch.put_item(Item={**ITEM, "sk": sk})
    assert table.get_item(Key={"pk": "a", "sk": 1}, ConsistentRead=True)["Item"] == {**ITEM, "t": False}
    assert "Item" not in table.get_item(Key={"pk": "missing", "sk": 1})
    page = table.query(KeyConditionExpression=Key("pk").eq("a"), Limit=7, ReturnConsumedCapacity="INDEXES")
    assert page["ResponseMetadata"]["HTTPHeaders"]["x-archiveflow-fast-json"] == "checked"
    assert page["Count"] == 7 and page["LastEvaluatedKey"] == {"pk": "a", "sk": 7}
    assert table.query(KeyConditionExpression=Key("pk").eq("a"), Select="COUNT")["Count"] == 39
    assert len(table.query(IndexName="by-s", KeyConditionExpression=Key("s").eq(ITEM["s"]),
                           ProjectionExpression="pk, m.x[2], ns")["Items"]) == 39
    assert table.scan(FilterExpression=Attr("sk").gt(30))["Count"] == 9
    assert table.scan(FilterExpression=Attr("sk").gt(1000))["Items"] == []
    got = client.batch_get_item(RequestItems={"fast-json": {"Keys": [{"pk": "a", "sk": 2}, {"pk": "a", "sk": 999}]}})
    assert got["Responses"]["fast-json"] == [{**ITEM, "sk": 2}] and got["UnprocessedKeys"] == {}
    updated = table.update_item(Key={"pk": "a", "sk": 3}, UpdateExpression="SET n = n + :one REMOVE b",
                                ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW")["Attributes"]
    assert updated["n"] == Decimal("13.5") and "b" not in updated
    assert table.update_item(Key={"pk": "a", "sk": 3}, UpdateExpression="SET t = :t",
                             ExpressionAttributeValues={":t": False})["ResponseMetadata"]["HTTPStatusCode"] == 200
    client.transact_write_items(TransactItems=[{"Delete": {"TableName": "fast-json", "Key": {"pk": "a", "sk": 4}}}])
    assert client.transact_get_items(TransactItems=[{"Get": {"TableName": "fast-json", "Key": {"pk": "a", "sk": 5}}}]
                                     )["Responses"][0]["Item"] == {**ITEM, "sk": 5}
    assert table.delete_item(Key={"pk": "a", "sk": 6}, ReturnValues="ALL_OLD")["Attributes"] == {**ITEM, "sk": 6}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):  # errors keep moto's own path
        table.put_item(Item=ITEM, ConditionExpression="attribute_not_exists(pk)")

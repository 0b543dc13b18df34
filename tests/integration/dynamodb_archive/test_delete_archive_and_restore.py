"""Acceptance of dynamodb_delete_archive and dynamodb_restore_items on the local stack (dag.test,
the emulator over HTTP through aws_default): 1,000 deletions over 2 tables with composite keys and
awkward key values are archived exactly once with their full records, and restored equal.

The emulator gives each table one shard that never splits, closes or trims and sets no
userIdentity: shard lineage, iterator expiry, trimmed-data gaps and TTL marking are unit-tested
(tests/unit/dynamodb_archive/test_stream.py) on AWS-documented record shapes."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from airflow.utils.state import DagRunState
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary, TypeDeserializer

from archiveflow import resources
from archiveflow.dynamodb_archive.records import item_from_archive

pytestmark = pytest.mark.integration

TRACKED = resources.dynamodb_table("tracked-items")
PER_TABLE = 500
# Key values an S3 key cannot hold as they are, or that a naive `_` join would confuse.
AWKWARD = ["a/b/../c", "tab\there\nnewline", "ctl\x01\x1f\x7f", "under_score_SK_x", "100%25%", "ünïcødé ✓ 東京",
           " spaced  out ", "~tilde~", "back\\slash", "x" * 1500, "USER#"]


def states(run) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for ti in sorted(run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        result.setdefault(ti.task_id, []).append(ti.state)
    return result


def xcom(run, task_id: str):
    ti = next(t for t in run.get_task_instances() if t.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id)


def attributes(i: int) -> dict:
    return {"name": f"item {i}", "count": Decimal(i), "price": Decimal(f"{i}.25"), "tags": {"a", f"t{i}"},
            "nums": {Decimal(1), Decimal(i + 2)}, "blob": Binary(bytes([i % 256, 0, 255])),
            "nested": {"list": [Decimal(i), "x", None, True], "map": {"k": "v/" + "_" * (i % 3)}},
            "flag": i % 2 == 0, "nothing": None}


def tracked_item(i: int) -> dict:
    if i == 0:  # the seed's own example
        return {"PK": "USER#123", "SK": "PROFILE", "name": "Test User", "email": "user@example.com"}
    return {"PK": f"{AWKWARD[i % len(AWKWARD)]}{i}", "SK": f"SK_{i}/{AWKWARD[(i + 3) % len(AWKWARD)][:40]}",
            **attributes(i)}


def order_item(i: int) -> dict:
    return {"tenant": f"{AWKWARD[(i + 5) % len(AWKWARD)]}-{i % 7}", "order_no": Decimal(i) / 4 - 20, **attributes(i)}


def key_of(item: dict, names: tuple[str, ...]) -> tuple:
    return tuple(item[n] for n in names)


def write(table, items: list[dict]) -> None:
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def delete(table, items: list[dict], names: tuple[str, ...]) -> None:
    with table.batch_writer() as batch:
        for item in items:
            batch.delete_item(Key={n: item[n] for n in names})


def scan(table) -> list[dict]:
    pages, kwargs = [], {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        pages += page["Items"]
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def object_versions(local_stack, table: str) -> list[dict]:
    pages = local_stack.client("s3").get_paginator("list_object_versions").paginate(
        Bucket=resources.bucket("stream-archive"), Prefix=f"{table}/")
    return [v for page in pages for v in page.get("Versions", [])]


def archived(local_stack, key: str, version_id: str | None = None) -> dict:
    extra = {"VersionId": version_id} if version_id else {}
    body = local_stack.client("s3").get_object(Bucket=resources.bucket("stream-archive"), Key=key, **extra)["Body"]
    return json.loads(body.read())


def old_image(document: dict) -> dict:
    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item_from_archive(document["dynamodb"]["OldImage"]).items()}


def dead_letters(local_stack) -> list[dict]:
    """Every message in the dead-letter queue (received and deleted, so each test sees its own)."""
    sqs = local_stack.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.sqs_queue("dead-letter"))["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.fixture
def tracked(local_stack):
    """The declared demo table, emptied first (its stream history stays: runs start at checkpoints)."""
    table = local_stack.resource("dynamodb").Table(TRACKED)
    delete(table, scan(table), ("PK", "SK"))
    return table


def test_thousand_deletions_archived_once_then_restored_equal(dags, local_stack, airflow_db, tracked, new_table):
    orders = local_stack.resource("dynamodb").Table(new_table({"tenant": "S", "order_no": "N"}))
    sources = {TRACKED: (tracked, ("PK", "SK"), [tracked_item(i) for i in range(PER_TABLE)]),
               orders.name: (orders, ("tenant", "order_no"), [order_item(i) for i in range(PER_TABLE)])}
    for table, names, items in sources.values():
        write(table, items)
        table.update_item(Key={n: items[1][n] for n in names}, UpdateExpression="SET #n = :v",
                          ExpressionAttributeNames={"#n": "name"}, ExpressionAttributeValues={":v": "renamed"})
        items[1]["name"] = "renamed"  # a MODIFY before the REMOVE: the archive holds the last value
        delete(table, items, names)
    conf = {"tables": list(sources)}

    started = time.monotonic()
    run = dags["dynamodb_delete_archive"].test(run_conf=conf)
    archive_seconds = time.monotonic() - started
    assert run.state == DagRunState.SUCCESS, states(run)
    assert xcom(run, "record_run")["archived"] == 2 * PER_TABLE

    versions = {name: object_versions(local_stack, name) for name in sources}
    assert sum(len(v) for v in versions.values()) == 2 * PER_TABLE
    assert f"{TRACKED}/PK_USER#123_SK_PROFILE.json" in {v["Key"] for v in versions[TRACKED]}
    for name, (_, names, items) in sources.items():
        keys = [v["Key"] for v in versions[name]]
        assert len(set(keys)) == PER_TABLE  # one object per deleted item: no two keys collided
        assert all(len(k.encode()) <= 1024 and k.count("/") == 1 and k.isprintable() for k in keys)
        with ThreadPoolExecutor(16) as pool:
            documents = list(pool.map(lambda k: archived(local_stack, k), keys))
        assert all(d["eventName"] == "REMOVE" and d["eventSource"] == "aws:dynamodb" for d in documents)
        assert all(d["archiveflow"]["removedBy"] == "delete" and d["dynamodb"]["Keys"] for d in documents)
        by_key = {key_of(old_image(d), names): old_image(d) for d in documents}
        assert by_key == {key_of(i, names): i for i in items}  # the full item, every type intact

    again = dags["dynamodb_delete_archive"].test(run_conf=conf)
    assert again.state == DagRunState.SUCCESS, states(again)
    assert xcom(again, "record_run")["archived"] == 0
    assert {n: sorted(v["VersionId"] for v in object_versions(local_stack, n)) for n in sources} == {
        n: sorted(v["VersionId"] for v in vs) for n, vs in versions.items()}  # nothing rewritten

    for name, (table, names, items) in sources.items():
        restore = dags["dynamodb_restore_items"].test(run_conf={"table": name})
        assert restore.state == DagRunState.SUCCESS, states(restore)
        assert xcom(restore, "restore_items")["restored"] == PER_TABLE
        assert {key_of(i, names): i for i in scan(table)} == {key_of(i, names): i for i in items}
    repeat = dags["dynamodb_restore_items"].test(run_conf={"table": orders.name})
    assert repeat.state == DagRunState.SUCCESS, states(repeat)
    assert xcom(repeat, "restore_items") == {"restored": 0, "already_present": PER_TABLE}
    print(f"archived {2 * PER_TABLE} deletions in {archive_seconds:.1f} s")


def test_failure_switch_dead_letters_whole_records_and_redrive_archives_them(dags, local_stack, airflow_db, new_table,
                                                                            notifications, monkeypatch):
    name = new_table({"PK": "S"})
    table = local_stack.resource("dynamodb").Table(name)
    dead_letters(local_stack)  # start from an empty queue
    monkeypatch.setenv("AIRFLOW_VAR_DYNAMODB_ARCHIVE_FAIL_KEYS", "BROKEN")
    monkeypatch.setenv("AIRFLOW_VAR_DYNAMODB_ARCHIVE_TABLES", json.dumps([name]))  # the configured list
    big = "x" * 300_000  # an item larger than an SQS message: the record must still be kept whole
    write(table, [{"PK": "BROKEN-1", "v": "lost?", "big": big}, {"PK": "fine-1", "v": "kept"}])
    delete(table, [{"PK": "BROKEN-1"}, {"PK": "fine-1"}], ("PK",))

    run = dags["dynamodb_delete_archive"].test(run_conf={})
    assert run.state == DagRunState.SUCCESS, states(run)  # the run carries on past a dead-lettered record
    assert [v["Key"] for v in object_versions(local_stack, name)] == [f"{name}/PK_fine-1.json"]
    [message] = dead_letters(local_stack)
    assert message["objectKey"] == f"{name}/PK_BROKEN-1.json" and "injected failure" in message["error"]
    held = archived(local_stack, message["deadLetterKey"])
    assert old_image(held["record"]) == {"PK": "BROKEN-1", "v": "lost?", "big": big}
    assert any(f"{name}/PK_BROKEN-1.json" in m and "dead-letter" in m for m in notifications())
    sqs = local_stack.client("sqs")  # the pointer back in the queue, for the redrive to settle
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=resources.sqs_queue("dead-letter"))["QueueUrl"],
                     MessageBody=json.dumps(message))

    monkeypatch.delenv("AIRFLOW_VAR_DYNAMODB_ARCHIVE_FAIL_KEYS")  # the cause is fixed
    redrive = dags["dynamodb_dead_letter_redrive"].test(run_conf={"tables": [name]})
    assert redrive.state == DagRunState.SUCCESS, states(redrive)
    assert xcom(redrive, "redrive_records") == {"archived": 1, "already_archived": 0, "messages_settled": 1}
    assert old_image(archived(local_stack, f"{name}/PK_BROKEN-1.json")) == {"PK": "BROKEN-1", "v": "lost?", "big": big}
    assert dead_letters(local_stack) == []
    listing = local_stack.client("s3").list_objects_v2(Bucket=resources.bucket("stream-archive"),
                                                      Prefix=f"~dead-letter/{name}/")
    assert listing.get("KeyCount") == 0  # nothing left to redrive


def test_key_deleted_twice_keeps_both_archives_and_restore_never_overwrites(dags, local_stack, airflow_db, new_table):
    name = new_table({"PK": "S", "SK": "N"})
    table = local_stack.resource("dynamodb").Table(name)
    key = {"PK": "order/7", "SK": Decimal(3)}
    conf = {"tables": [name]}
    write(table, [{**key, "v": "first"}])
    delete(table, [key], ("PK", "SK"))
    assert dags["dynamodb_delete_archive"].test(run_conf=conf).state == DagRunState.SUCCESS
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    write(table, [{**key, "v": "second"}])
    delete(table, [key], ("PK", "SK"))
    assert dags["dynamodb_delete_archive"].test(run_conf=conf).state == DagRunState.SUCCESS
    versions = object_versions(local_stack, name)
    assert {v["Key"] for v in versions} == {f"{name}/PK_order%2F7_SK_3.json"}
    assert sorted(archived(local_stack, v["Key"], v["VersionId"])["dynamodb"]["OldImage"]["v"]["S"]
                  for v in versions) == ["first", "second"]

    restore = dags["dynamodb_restore_items"]
    by_key = {"table": name, "keys": [{"PK": "order/7", "SK": 3}]}
    assert restore.test(run_conf=by_key).state == DagRunState.SUCCESS
    assert table.get_item(Key=key)["Item"]["v"] == "second"  # the newest deletion

    table.put_item(Item={**key, "v": "changed since"})
    early = {**by_key, "deleted_before": between.isoformat()}
    refused = restore.test(run_conf=early)
    assert refused.state == DagRunState.FAILED
    assert next(t for t in refused.get_task_instances() if t.task_id == "restore_items").try_number == 1
    assert table.get_item(Key=key)["Item"]["v"] == "changed since"  # refused: not overwritten
    assert restore.test(run_conf={**early, "overwrite": True}).state == DagRunState.SUCCESS
    assert table.get_item(Key=key)["Item"]["v"] == "first"  # the deletion before `between`


@pytest.mark.parametrize(("stream", "conf", "field"), [
    ("KEYS_ONLY", {}, "tables[0]"),
    ("NEW_AND_OLD_IMAGES", {"bucket": resources.bucket("reports")}, "bucket"),  # not versioned
])
def test_bad_input_fails_first_task_naming_the_field(dags, local_stack, airflow_db, new_table, stream, conf, field):
    name = new_table({"PK": "S"}, stream)
    run = dags["dynamodb_delete_archive"].test(run_conf={"tables": [name], **conf})
    assert run.state == DagRunState.FAILED
    plan = next(t for t in run.get_task_instances() if t.task_id == "plan_tables")
    assert (plan.state, plan.try_number) == ("failed", 1)
    assert object_versions(local_stack, name) == []


def test_restore_of_a_key_never_archived_is_refused_before_writing(dags, local_stack, airflow_db, new_table):
    name = new_table({"PK": "S"})
    run = dags["dynamodb_restore_items"].test(run_conf={"table": name, "keys": [{"PK": "never-deleted"}]})
    assert run.state == DagRunState.FAILED
    plan = next(t for t in run.get_task_instances() if t.task_id == "plan_restore")
    assert (plan.state, plan.try_number) == ("failed", 1)


def checkpoint_items(local_stack, stream_partition: str) -> list[dict]:
    table = local_stack.resource("dynamodb").Table(resources.dynamodb_table("stream-checkpoints"))
    return table.query(KeyConditionExpression=Key("stream_arn").eq(stream_partition), ConsistentRead=True)["Items"]


def test_an_s3_outage_during_a_run_loses_no_deletion(dags, local_stack, airflow_db, new_table, s3_outage, monkeypatch):
    """The stream-archive bucket refuses every write (503) throughout a run, then is back: the run
    fails with its checkpoint before the unwritten records, nothing is dead-lettered, and the run
    after the outage archives every deletion. (How long the outage lasts does not matter within the
    stream's 24 h: every run until it ends fails the same way, from the same checkpoint.)"""
    from archiveflow.dynamodb_archive import archive

    monkeypatch.setattr(archive, "RETRY_DELAYS", (0.1, 0.2, 0.4, 0.8))  # the task's 5 tries, quicker
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries of a 503 would add ~20 s per try
    name = new_table({"PK": "S"})
    table = local_stack.resource("dynamodb").Table(name)
    items = [{"PK": f"item-{i}", "v": Decimal(i)} for i in range(20)]
    write(table, items)
    delete(table, items, ("PK",))
    dead_letters(local_stack)
    dag = dags["dynamodb_delete_archive"]
    for task in dag.tasks:  # the DAG's own retries come 30 s apart: the next run stands in for them here
        task.retries = 0

    s3_outage.fail_writes(f"{name}/")
    during = dag.test(run_conf={"tables": [name]})
    s3_outage.restore()
    assert during.state == DagRunState.FAILED, states(during)
    assert states(during)["archive_table"] == ["failed"] and s3_outage.refused >= 5
    stream_arn = local_stack.client("dynamodb").describe_table(TableName=name)["Table"]["LatestStreamArn"]
    assert all("sequence_number" not in c for c in checkpoint_items(local_stack, stream_arn))  # nothing passed

    after = dag.test(run_conf={"tables": [name]})
    assert after.state == DagRunState.SUCCESS, states(after)
    keys = sorted(v["Key"] for v in object_versions(local_stack, name))
    assert keys == sorted(f"{name}/PK_item-{i}.json" for i in range(20))
    assert sorted((old_image(archived(local_stack, k)) for k in keys), key=lambda i: i["PK"]) == sorted(
        items, key=lambda i: i["PK"])
    assert [m for m in dead_letters(local_stack) if m.get("table") == name] == []  # none only in a queue


def test_a_run_into_another_bucket_leaves_the_default_buckets_checkpoint(dags, local_stack, airflow_db, new_table):
    s3 = local_stack.client("s3")
    other = f"it-other-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=other)
    s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    name = new_table({"PK": "S"})
    table = local_stack.resource("dynamodb").Table(name)
    write(table, [{"PK": "a"}, {"PK": "b"}])
    delete(table, [{"PK": "a"}, {"PK": "b"}], ("PK",))

    elsewhere = dags["dynamodb_delete_archive"].test(run_conf={"tables": [name], "bucket": other})
    assert elsewhere.state == DagRunState.SUCCESS, states(elsewhere)
    listed = s3.list_object_versions(Bucket=other, Prefix=f"{name}/").get("Versions", [])
    assert sorted(v["Key"] for v in listed) == [f"{name}/PK_a.json", f"{name}/PK_b.json"]
    default = dags["dynamodb_delete_archive"].test(run_conf={"tables": [name], "bucket": None})
    assert default.state == DagRunState.SUCCESS, states(default)
    assert sorted(v["Key"] for v in object_versions(local_stack, name)) == [f"{name}/PK_a.json", f"{name}/PK_b.json"]

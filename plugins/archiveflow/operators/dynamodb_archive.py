"""Operators of `dynamodb_delete_archive` and `dynamodb_restore_items`: they open the Amazon
provider's hooks (DynamoDBHook, S3Hook, SqsHook, SnsHook; the DynamoDB Streams client from an
AwsBaseHook) and hand the clients to the plain-Python core in `archiveflow.dynamodb_archive`.

The DAG files import this module at parse time: the AWS hooks are imported where they are used.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from airflow.sdk import Variable

from archiveflow import resources
from archiveflow.dynamodb_archive import config
from archiveflow.errors import BadRequest, RunIncomplete, SafetyRefusal
from archiveflow.operators.base import ArchiveflowOperator

# The failure switch (off unless set): a regular expression; every write of an archive object
# whose key matches fails, so the record goes to the dead-letter queue. For acceptance tests only.
FAIL_KEYS_VARIABLE = "dynamodb_archive_fail_keys"
OLD_IMAGE_VIEWS = ("NEW_AND_OLD_IMAGES", "OLD_IMAGE")
LISTED = 20  # keys named in a notification; the rest are counted


class DynamoDBArchiveBaseOperator(ArchiveflowOperator):
    """Shared plumbing: the connection's clients, the runs table, the notifications topic."""

    def __init__(self, *, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def dynamodb(self):
        from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

        return DynamoDBHook(aws_conn_id=self.aws_conn_id)

    def dynamodb_client(self):
        """A low-level client taking typed values (`{"S": ...}`), as stream records carry them; the
        DynamoDBHook's `client` belongs to its resource, which expects plain Python values."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodb").get_conn()

    def s3_client(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        # Enough pooled connections for the parallel writers (botocore's default pool holds 10).
        return S3Hook(aws_conn_id=self.aws_conn_id, config={"max_pool_connections": 32}).get_conn()

    def describe_table(self, name: str, field: str) -> dict[str, Any]:
        client = self.dynamodb().client
        try:
            return client.describe_table(TableName=name)["Table"]
        except client.exceptions.ResourceNotFoundException:
            raise BadRequest(field, f"no DynamoDB table {name!r} for this connection") from None

    def check_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        try:
            status = self.s3_client().get_bucket_versioning(Bucket=bucket).get("Status")
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code not in ("NoSuchBucket", "404", "AccessDenied", "403", "AllAccessDisabled"):
                raise  # an S3 outage or throttling: the task's retries
            raise BadRequest("bucket", f"s3://{bucket} cannot be used: {code}") from None
        if status != "Enabled":
            raise BadRequest("bucket", f"s3://{bucket} is not versioned: an item deleted twice would keep only "
                                       "its last archive. Enable versioning on it.")

    def record_run(self, dag_id: str, run_id: str, **attributes: Any) -> None:
        from archiveflow.run_items import put_run_item

        table = self.dynamodb().get_conn().Table(resources.dynamodb_table("runs"))
        item = {"pk": f"{dag_id}#{run_id}", "sk": "run", "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                **attributes}
        put_run_item(table, self.s3_client(), resources.bucket("reports"), item)

    def notify(self, subject: str, message: str) -> None:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from archiveflow.hooks.sns import declared_topic_arn

        hook = SnsHook(aws_conn_id=self.aws_conn_id)
        arn = declared_topic_arn(hook, "notifications")
        if arn is None:
            self.log.warning("no SNS topic %r in this account: not notifying", resources.sns_topic("notifications"))
            return
        hook.publish_to_target(arn, message, subject=subject[:99])


def key_schema(description: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(key names, partition key first; {name: S|N|B}) of a describe_table result."""
    names = [k["AttributeName"] for k in sorted(description["KeySchema"], key=lambda k: k["KeyType"] != "HASH")]
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return names, {n: types[n] for n in names}


# --- dynamodb_delete_archive ------------------------------------------------------------------

class PlanStreamArchiveOperator(DynamoDBArchiveBaseOperator):
    """Resolve the tables (conf, else the configured list) and check each one streams its old
    images, and that the bucket is versioned; nothing is read or written before. One item per
    table to map over."""

    def run(self, context) -> list[dict[str, Any]]:
        from archiveflow.dynamodb_archive.request import FIELDS, parse_request

        request = parse_request(context["params"])
        self.warn_unknown_fields(FIELDS, context["params"])
        tables = list(request.tables) if request.tables else self.configured_tables()
        bucket = request.bucket or resources.bucket("stream-archive")
        self.check_bucket(bucket)
        planned = [self.plan_table(name, f"tables[{i}]", bucket) for i, name in enumerate(tables)]
        for table in planned:
            self.log.info("%s: stream %s, key %s -> s3://%s/%s/", table["table"], table["stream_arn"],
                          table["key_names"], bucket, table["table"])
        return planned

    def configured_tables(self) -> list[str]:
        from archiveflow.paths import include_path

        value = Variable.get(config.VARIABLE, default=None)
        if value:
            tables = config.tables_from_variable(value)
            self.log.info("tables from the Variable %s: %s", config.VARIABLE, tables)
            return tables
        path = include_path("dynamodb_archive", "tables.yaml")
        tables = config.tables_from_file(path, resources.name_prefix())
        self.log.info("tables from %s: %s", path, tables)
        return tables

    def plan_table(self, name: str, field: str, bucket: str) -> dict[str, Any]:
        description = self.describe_table(name, field)
        stream = description.get("StreamSpecification") or {}
        if not stream.get("StreamEnabled") or stream.get("StreamViewType") not in OLD_IMAGE_VIEWS:
            raise BadRequest(field, f"table {name!r} must stream NEW_AND_OLD_IMAGES (or OLD_IMAGE) so deleted items "
                                    f"can be archived; its stream: {stream or 'disabled'}")
        key_names, _ = key_schema(description)
        return {"table": name, "stream_arn": description["LatestStreamArn"], "key_names": key_names, "bucket": bucket}


class ArchiveDeletedItemsOperator(DynamoDBArchiveBaseOperator):
    """Archive one table's REMOVE records from its stream checkpoints on. `table` is one item of
    PlanStreamArchiveOperator's result."""

    def __init__(self, *, table: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table

    def run(self, context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        from archiveflow.dynamodb_archive.archive import WRITER_CLIENT_CONFIG, ArchiveTarget, RecordArchiver
        from archiveflow.dynamodb_archive.checkpoints import CheckpointStore
        from archiveflow.dynamodb_archive.request import parse_request
        from archiveflow.dynamodb_archive.stream import read_table_streams

        budget = parse_request(context["params"]).time_budget_minutes * 60
        fail_keys = Variable.get(FAIL_KEYS_VARIABLE, default=None)
        if fail_keys:
            self.log.warning("failure switch %s is on: writes of keys matching %r fail", FAIL_KEYS_VARIABLE, fail_keys)
        sqs = SqsHook(aws_conn_id=self.aws_conn_id)
        queue_url = sqs.get_conn().get_queue_url(QueueName=resources.sqs_queue("dead-letter"))["QueueUrl"]
        table, bucket = self.table["table"], self.table["bucket"]
        s3 = S3Hook(aws_conn_id=self.aws_conn_id, config=WRITER_CLIENT_CONFIG).get_conn()

        def archiver_for(stream_arn: str) -> RecordArchiver:
            target = ArchiveTarget(table, tuple(self.table["key_names"]), stream_arn, bucket)
            return RecordArchiver(s3, target, lambda body: sqs.send_message(queue_url, body), fail_keys)

        # Another bucket than the deployment's reads with its own checkpoints: it never moves the default's.
        other_bucket = None if bucket == resources.bucket("stream-archive") else bucket
        checkpoints = CheckpointStore(
            self.dynamodb().get_conn().Table(resources.dynamodb_table("stream-checkpoints")), table, other_bucket)
        streams = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodbstreams").get_conn()
        outcome = read_table_streams(streams, checkpoints, archiver_for, table, self.table["stream_arn"],
                                     time.monotonic() + budget).as_dict()
        self.log.info("%s: %s", table, outcome)
        return outcome


class RecordStreamArchiveOperator(DynamoDBArchiveBaseOperator):
    """Record the run, announce dead-lettered records, gaps and failed tables on SNS, and fail the
    run if a table could not be archived (this task runs whatever happened upstream)."""

    def run(self, context) -> dict[str, Any]:
        ti = context["ti"]
        planned = ti.xcom_pull(task_ids="plan_tables") or []
        # One map index per planned table, so a list comes back even for one table; None where it failed.
        pulled = ti.xcom_pull(task_ids="archive_table", map_indexes=list(range(len(planned)))) if planned else []
        outcomes = [o for o in pulled if o]
        failed = sorted({t["table"] for t in planned} - {o["table"] for o in outcomes})
        dead = sum(o["dead_lettered"] for o in outcomes)
        dead_sample = [d for o in outcomes for d in o["dead_letter_sample"]]
        gaps = [g for o in outcomes for g in o["gaps"]]
        totals = {k: sum(o[k] for o in outcomes) for k in ("removes", "archived", "already_archived", "ttl_removes")}
        status = "failed" if failed or not planned else "succeeded"
        self.record_run(context["dag"].dag_id, context["run_id"], status=status, failed_tables=failed,
                        dead_lettered=dead, gaps=gaps, tables=outcomes, **totals)
        if dead or gaps or failed:
            self.notify(f"dynamodb_delete_archive: {dead} dead-lettered, {len(gaps)} gaps, {len(failed)} failed",
                        self.message(context["run_id"], dead, dead_sample, gaps, failed))
        self.log.info("run %s: %s; %d dead-lettered; gaps %s; failed tables %s",
                      context["run_id"], totals, dead, gaps, failed)
        if status == "failed":
            raise RunIncomplete(f"tables not archived: {failed or 'none planned'}")
        return {**totals, "dead_lettered": dead, "gaps": len(gaps)}

    @staticmethod
    def message(run_id: str, dead: int, dead_sample: list[dict], gaps: list[str], failed: list[str]) -> str:
        from archiveflow.dynamodb_archive.archive import DEAD_LETTER_PREFIX

        lines = [f"dynamodb_delete_archive run {run_id}"]
        if dead:
            lines.append(f"{dead} record(s) S3 refused for good were dead-lettered: their full records are under "
                         f"s3://<bucket>/{DEAD_LETTER_PREFIX}<table>/, pointers in the queue "
                         f"{resources.sqs_queue('dead-letter')}. Once the cause is fixed, run "
                         "dynamodb_dead_letter_redrive:")
            lines += [f"  {d['object_key']} (event {d['event_id']}): {d['error']}" for d in dead_sample[:LISTED]]
            if dead > LISTED:
                lines.append(f"  ... and {dead - LISTED} more")
        lines += [f"GAP: {g}" for g in gaps]
        lines += [f"FAILED: table {t} was not archived (see the archive_table task log)" for t in failed]
        return "\n".join(lines)


# --- dynamodb_restore_items -------------------------------------------------------------------

def restore_plan_key(run_id: str) -> str:
    return f"dynamodb_restore_items/{run_id}/plan.json"


class PlanRestoreOperator(DynamoDBArchiveBaseOperator):
    """Check the request (the target table and its key schema, each key's archive) and choose the
    archive version of every item to restore; the list goes to the reports bucket (it may be long)."""

    def run(self, context) -> dict[str, Any]:
        from archiveflow.dynamodb_archive.restore import plan
        from archiveflow.dynamodb_archive.restore_request import FIELDS, parse_request

        request = parse_request(context["params"])
        self.warn_unknown_fields(FIELDS, context["params"])
        field = "target_table" if request.target_table else "table"
        key_names, key_types = key_schema(self.describe_table(request.target, field))
        bucket = request.bucket or resources.bucket("stream-archive")
        s3 = self.s3_client()
        entries = plan(s3, bucket, request, key_names, key_types)
        key = restore_plan_key(context["run_id"])
        s3.put_object(Bucket=resources.bucket("reports"), Key=key, Body=json.dumps(entries).encode(),
                      ContentType="application/json")
        self.log.info("%d item(s) to restore from s3://%s/%s/ into %s; plan s3://%s/%s", len(entries), bucket,
                      request.table, request.target, resources.bucket("reports"), key)
        for entry in entries[:LISTED]:
            self.log.info("  %s (version %s)", entry["key"], entry["version_id"])
        return {"items": len(entries), "bucket": bucket, "target": request.target, "key_names": key_names,
                "plan_key": key, "dry_run": request.dry_run}


class RestoreItemsOperator(DynamoDBArchiveBaseOperator):
    """Put the planned items back; an item that exists with another value is left alone unless
    `overwrite`, and the run fails naming them once the others are restored."""

    def run(self, context) -> dict[str, Any]:
        from archiveflow.dynamodb_archive.restore import ItemRestorer
        from archiveflow.dynamodb_archive.restore_request import parse_request

        request = parse_request(context["params"])
        planned = context["ti"].xcom_pull(task_ids="plan_restore")
        if planned["dry_run"]:
            self.log.info("dry run: %d item(s) would be restored; nothing written", planned["items"])
            return {"dry_run": True, "items": planned["items"]}
        s3 = self.s3_client()
        entries = json.loads(s3.get_object(Bucket=resources.bucket("reports"), Key=planned["plan_key"])["Body"].read())
        restorer = ItemRestorer(s3, self.dynamodb_client(), planned["bucket"], planned["target"],
                                planned["key_names"], request.overwrite)
        outcome = restorer.restore_all(entries)
        refused = outcome["refused"]
        status = "refused" if refused else "succeeded"
        self.record_run(context["dag"].dag_id, context["run_id"], status=status, table=request.table,
                        target=planned["target"], restored=outcome["restored"],
                        already_present=outcome["already_present"], refused=refused)
        summary = (f"dynamodb_restore_items run {context['run_id']}: {outcome['restored']} restored into "
                   f"{planned['target']}, {outcome['already_present']} already there, {len(refused)} refused")
        self.log.info(summary)
        self.notify(f"dynamodb_restore_items {status}", "\n".join([summary, *refused[:LISTED]]))
        if refused:
            raise SafetyRefusal(f"{len(refused)} item(s) exist in {planned['target']} with other values and were not "
                                f"overwritten (set overwrite to replace them): {refused[:LISTED]}")
        return {k: v for k, v in outcome.items() if k != "refused"}


# --- dynamodb_dead_letter_redrive --------------------------------------------------------------

class PlanRedriveOperator(DynamoDBArchiveBaseOperator):
    """Check the request and the bucket; count the dead-lettered records (a few named)."""

    def run(self, context) -> dict[str, Any]:
        from archiveflow.dynamodb_archive.redrive import dead_letter_keys
        from archiveflow.dynamodb_archive.redrive_request import FIELDS, parse_request

        request = parse_request(context["params"])
        self.warn_unknown_fields(FIELDS, context["params"])
        bucket = request.bucket or resources.bucket("stream-archive")
        self.check_bucket(bucket)
        keys = list(dead_letter_keys(self.s3_client(), bucket, request.tables))
        self.log.info("%d dead-lettered record(s) in s3://%s: %s%s", len(keys), bucket, keys[:LISTED],
                      " ..." if len(keys) > LISTED else "")
        return {"bucket": bucket, "records": len(keys), "dry_run": request.dry_run}


class RedriveDeadLettersOperator(DynamoDBArchiveBaseOperator):
    """Write each dead-lettered record to its archive key, delete the queue's settled pointers, record
    the run. A record that still cannot be written fails the task (retried); those written stay written."""

    def run(self, context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        from archiveflow.dynamodb_archive.redrive import Redriver, dead_letter_keys, settle_messages
        from archiveflow.dynamodb_archive.redrive_request import parse_request

        request = parse_request(context["params"])
        planned = context["ti"].xcom_pull(task_ids="plan_redrive")
        if planned["dry_run"]:
            self.log.info("dry run: %d dead-lettered record(s); nothing written", planned["records"])
            return {"dry_run": True, "records": planned["records"]}
        s3, bucket = self.s3_client(), planned["bucket"]
        redriver = Redriver(s3, bucket)
        counts = {"archived": 0, "already_archived": 0}
        for held_key in dead_letter_keys(s3, bucket, request.tables):
            counts[redriver.redrive(held_key)] += 1
        sqs = SqsHook(aws_conn_id=self.aws_conn_id).get_conn()
        queue_url = sqs.get_queue_url(QueueName=resources.sqs_queue("dead-letter"))["QueueUrl"]
        counts["messages_settled"] = settle_messages(sqs, queue_url, s3)
        self.record_run(context["dag"].dag_id, context["run_id"], status="succeeded", bucket=bucket, **counts)
        self.log.info("redrive into s3://%s: %s", bucket, counts)
        return counts

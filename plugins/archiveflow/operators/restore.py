"""Operators of the `s3_restore` DAG: look up → request restores → wait (deferred) → extract → notify.

They open the provider's hooks and hand clients to the plain-Python core in `archiveflow.restore`.
Heavy imports stay inside `run`: the DAG file imports this module at parse time.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from archiveflow import resources
from archiveflow.operators.base import ArchiveflowOperator


class _RestoreOperator(ArchiveflowOperator):
    template_fields: tuple[str, ...] = ("plan",)

    def __init__(self, *, plan: Any = None, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.aws_conn_id = aws_conn_id

    def s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def skip_dry_run(self) -> None:
        if self.plan["request"]["dry_run"]:
            raise AirflowSkipException("dry run: the look-up and the price above are all this run does")


class LookUpFilesOperator(_RestoreOperator):
    """Parse the conf, check it against the connection, find every file in the archive index, check
    the tier against each bundle's class and price the restore. Bad input fails here, naming the
    field, before any paid request."""

    def run(self, context) -> dict:
        from archiveflow.hooks.archive_catalog import archive_index
        from archiveflow.request_fields import unknown_fields
        from archiveflow.restore import bundles, cost, lookup
        from archiveflow.restore.extract import check_destinations
        from archiveflow.restore.request import FIELDS, check_restore_bucket, parse_request

        if unknown := unknown_fields(FIELDS, context["params"]):
            self.log.warning("conf fields this DAG does not know, ignored: %s", unknown)
        request = parse_request(context["params"], restore_bucket=resources.bucket("restore"),
                                archive_bucket=resources.bucket("archive"))
        topic = self._checked_topic(request)
        s3 = self.s3().conn
        with archive_index(self.aws_conn_id) as (store, index_usage):
            files = lookup.locate(store, resources.dynamodb_table("archive-index"), request.names,
                                  request.name_fields, project_name=request.project_name, version=request.version)
            lookups = index_usage()
        check_restore_bucket(request.restore_bucket, restore_buckets(),
                             refused=_not_restore_buckets() | {f.source_bucket for f in files})
        check_destinations(files, request.destination_prefix)
        archives = {(f.archive_bucket, f.archive_key) for f in files}
        described = [bundles.describe(s3, bucket, key) for bucket, key in sorted(archives)]
        for bundle in described:
            bundles.check_tier(bundle, request.retrieval_tier)
        price = {**cost.estimate(described, request.retrieval_tier, request.restore_days, len(files)), "index": lookups}
        for f in files:
            self.log.info("%s: %s in s3://%s/%s (%s, version %s)", f.source, f.member_name or "object of its own",
                          f.archive_bucket, f.archive_key, f.storage_class, f.version)
        self.log.info("%s files in %s archive objects; %s need a restore (%s); estimated cost %s", len(files),
                      len(described), sum(b["status"] == bundles.NONE for b in described), request.retrieval_tier,
                      price)
        return {"request": {**asdict(request), "sns_topic_arn": topic}, "files": [asdict(f) for f in files],
                "bundles": described, "cost": price}

    def _checked_topic(self, request) -> str:
        """Account and region are the connection's; the topic is in that account (default: the deployment's)."""
        from airflow.providers.amazon.aws.hooks.sns import SnsHook
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        from archiveflow.errors import BadRequest
        from archiveflow.hooks.sns import declared_topic_arn

        account = StsHook(aws_conn_id=self.aws_conn_id).get_account_number()
        region = self.s3().conn_region_name
        if request.account and request.account != account:
            raise BadRequest("account", f"{request.account} is not the connection's account {account}")
        if request.region and request.region != region:
            raise BadRequest("region", f"{request.region} is not the connection's region {region}")
        if request.sns_topic_arn is None:
            return declared_topic_arn(SnsHook(aws_conn_id=self.aws_conn_id), "notifications")
        if request.sns_topic_arn.split(":")[4] != account:
            raise BadRequest("sns_topic_arn", f"{request.sns_topic_arn} is in another account than {account}")
        return request.sns_topic_arn


class RequestRestoresOperator(_RestoreOperator):
    """One restore request per archive object that needs one; an object already restoring or
    restored is left alone, so a retried task never pays twice. Returns the objects to wait for."""

    def run(self, context) -> list[dict]:
        from archiveflow.restore import bundles
        from archiveflow.restore.notify import now
        from archiveflow.restore.request import EXTRACTION_HOURS

        self.skip_dry_run()
        request, s3 = self.plan["request"], self.s3().conn
        # Every copy must outlive the longest wait for the others plus the extraction.
        needed_until = now() + timedelta(hours=request["max_wait_hours"] + EXTRACTION_HOURS)
        waiting = []
        for bundle in self.plan["bundles"]:
            if bundle["status"] == bundles.NOT_NEEDED:
                self.log.info("s3://%s/%s is in %s: readable without a restore", bundle["bucket"], bundle["key"],
                              bundle["storage_class"])
                continue
            status = bundles.request_restore(s3, bundle, request["retrieval_tier"], request["restore_days"],
                                             needed_until)
            self.log.info("s3://%s/%s: restore %s (%s, %s days)", bundle["bucket"], bundle["key"], status,
                          request["retrieval_tier"], request["restore_days"])
            waiting.append({"bucket": bundle["bucket"], "key": bundle["key"]})
        return waiting


class WaitForRestoresOperator(_RestoreOperator):
    """Wait, deferred (no worker slot), until every restore is done; fail after `max_wait` hours
    naming the objects still in progress."""

    template_fields = ("plan", "objects")

    def __init__(self, *, objects: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.objects = objects

    def run(self, context) -> None:
        self.skip_dry_run()
        max_wait = timedelta(hours=self.plan["request"]["max_wait_hours"])
        self._wait(time.time() + max_wait.total_seconds())

    def _wait(self, end_time: float) -> None:
        """Defer until `end_time` (epoch seconds) for the objects whose restore is not done yet."""
        from archiveflow.restore import bundles
        from archiveflow.triggers.s3_restore import S3RestoreTrigger

        s3 = self.s3().conn
        pending = [o for o in self.objects if bundles.describe(s3, o["bucket"], o["key"])["status"] != bundles.AVAILABLE]
        if not pending:
            self.log.info("all %s restores are done", len(self.objects))
            return
        request = self.plan["request"]
        self.log.info("%s of %s restores in progress; deferring (poll every %ss, until %s)", len(pending),
                      len(self.objects), request["poll_interval"], time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                time.gmtime(end_time)))
        trigger = S3RestoreTrigger(pending, end_time=end_time, aws_conn_id=self.aws_conn_id,
                                   poll_interval=request["poll_interval"])
        # The trigger's own deadline fires first and names the bundles; Airflow's timeout is the backstop.
        self.defer(trigger=trigger, method_name="execute_complete", kwargs={"end_time": end_time},
                   timeout=timedelta(seconds=max(end_time - time.time(), 0)) + timedelta(minutes=10))

    def execute_complete(self, context, event: dict, end_time: float | None = None) -> None:
        from archiveflow.errors import RunIncomplete
        from archiveflow.restore import bundles
        from archiveflow.restore.notify import now
        from archiveflow.restore.request import EXTRACTION_HOURS

        if event["status"] == "success":
            self.log.info("restores done: %s", ", ".join(f"s3://{o['bucket']}/{o['key']}" for o in event["objects"]))
            return
        if event["status"] == "timeout":
            names = ", ".join(f"s3://{o['bucket']}/{o['key']}" for o in event["pending"])
            # Waiting again would not make S3 faster: no retry.
            raise RunIncomplete(f"max_wait of {self.plan['request']['max_wait_hours']} h reached; "
                                f"still in progress: {names}")
        # An object shows no restore (its copy expired, or none was made): this task, not the
        # request task, requests it again and waits on, within the same deadline.
        request, s3 = self.plan["request"], self.s3().conn
        needed_until = now() + timedelta(hours=request["max_wait_hours"] + EXTRACTION_HOURS)
        for o in event["objects"]:
            status = bundles.request_restore(s3, o, request["retrieval_tier"], request["restore_days"], needed_until)
            self.log.warning("s3://%s/%s showed no restore (%s): restore %s again", o["bucket"], o["key"],
                             event["message"], status)
        self._wait(end_time or time.time() + request["max_wait_hours"] * 3600)


class ExtractFilesOperator(_RestoreOperator):
    """Ranged GETs of each requested member (or a copy of an object archived on its own) into the
    restore bucket, CRC-32 and size checked; a file that fails is reported, the others go on. Up to
    `batch_above` files are extracted here; more by an AWS Batch array job (the packing image, its
    command overridden by `python -m archiveflow.restore.worker`), waited for on the triggerer."""

    def __init__(self, *, batch_above: int = 200, files_per_child: int = 500, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_above = batch_above
        self.files_per_child = files_per_child

    def run(self, context) -> dict:
        from archiveflow.restore.extract import ReadCounter
        from archiveflow.restore.lookup import ArchivedFile
        from archiveflow.restore.worker import restore_files

        self.skip_dry_run()
        request = self.plan["request"]
        if len(self.plan["files"]) > self.batch_above:
            return self._in_batch(context)
        files = [ArchivedFile(**f) for f in self.plan["files"]]
        outcome = restore_files(self.s3().conn, request, files, ReadCounter())
        self._log(outcome)
        return self._retry_or_report(context, outcome)

    def _retry_or_report(self, context, outcome: dict) -> dict:
        """Retry the task while a file failed in a way that may pass (the retry finds the verified
        copies and redoes only the rest); at the last try, report what failed."""
        from archiveflow.errors import TransientServiceError

        retryable = [failure["source"] for failure in outcome["failed"] if failure["retryable"]]
        ti = context.get("ti")
        if retryable and ti is not None and ti.try_number <= ti.max_tries:
            raise TransientServiceError(f"{len(retryable)} files failed in a way a retry may fix (try "
                                        f"{ti.try_number} of {ti.max_tries + 1}): {retryable[:5]}")
        return outcome

    def _log(self, outcome: dict) -> None:
        request = self.plan["request"]
        self.log.info("restored %s files (%s bytes; %s were there from an earlier try) into s3://%s/%s, %s failed; "
                      "read %s bytes from the archive in %s GETs", len(outcome["restored"]),
                      sum(r["size"] for r in outcome["restored"]),
                      sum(bool(r.get("already_restored")) for r in outcome["restored"]),
                      request["restore_bucket"], request["destination_prefix"], len(outcome["failed"]),
                      outcome["archive_bytes_read"], outcome["archive_get_requests"])

    def _in_batch(self, context) -> dict:
        import json

        from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger

        from archiveflow.hooks.batch import BatchClientHook

        size = -(-len(self.plan["files"]) // self.files_per_child)
        plan_key = f"_plans/restore-{context['run_id'].replace(':', '-').replace('+', '-')}/plan.json"
        document = {**self.plan["request"], "files": self.plan["files"], "array_size": size}
        self.s3().conn.put_object(Bucket=resources.bucket("archive"), Key=plan_key, Body=json.dumps(document).encode())
        hook = BatchClientHook(aws_conn_id=self.aws_conn_id)
        overrides = {"command": ["python", "-m", "archiveflow.restore.worker"], "environment": [
            {"name": "ARCHIVEFLOW_RESTORE_PLAN", "value": f"s3://{resources.bucket('archive')}/{plan_key}"}]}
        job = hook.client.submit_job(
            jobName=f"s3-restore-{plan_key.split('/')[1]}"[:128], jobQueue=resources.batch_job_queue(),
            jobDefinition=resources.batch_job_definition("pack-bundle"), containerOverrides=overrides,
            **({"arrayProperties": {"size": size}} if size > 1 else {}))
        self.log.info("%s files: AWS Batch job %s, %s children", len(self.plan["files"]), job["jobId"], size)
        if hook.runs_jobs_locally:
            hook.run_job_locally(job["jobId"])
            return self.collect(context, {"status": "success", "job_id": job["jobId"]}, plan_key, size)
        self.defer(trigger=BatchJobTrigger(job_id=job["jobId"], aws_conn_id=self.aws_conn_id, waiter_delay=30,
                                           waiter_max_attempts=2880),
                   method_name="collect", kwargs={"plan_key": plan_key, "size": size})

    def collect(self, context, event: dict, plan_key: str, size: int) -> dict:
        """Merge the children's result objects (after the Batch job ended)."""
        import json

        from archiveflow.restore.worker import results_key

        if event.get("status") != "success":
            raise RuntimeError(f"AWS Batch restore job {event.get('job_id')} failed: {event}")
        s3 = self.s3().conn
        outcome = {"restored": [], "failed": [], "archive_bytes_read": 0, "archive_get_requests": 0}
        for child in range(size):
            part = json.loads(s3.get_object(Bucket=resources.bucket("archive"), Key=results_key(plan_key, child))
                              ["Body"].read())
            for name in outcome:
                outcome[name] += part[name]
        self._log(outcome)
        return self._retry_or_report(context, outcome)


class NotifyRestoreOperator(_RestoreOperator):
    """One SNS message (a manifest link above 256 KB), the run in the `runs` table; fails if a file failed."""

    template_fields = ("plan", "extracted")

    def __init__(self, *, extracted: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extracted = extracted

    def run(self, context) -> dict:
        from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from archiveflow.restore import notify, runs

        self.skip_dry_run()
        request, hook = self.plan["request"], self.s3()
        expires_in, expires_at = notify.link_lifetime(request["restore_days"], _credentials_expiry(hook), notify.now())
        restored = [{**r, "url": hook.conn.generate_presigned_url(
            "get_object", Params={"Bucket": r["bucket"], "Key": r["key"]}, ExpiresIn=expires_in)}
            for r in self.extracted["restored"]]
        message = notify.build_message(context["run_id"], restored, self.extracted["failed"], expires_at)
        summary = {"outcome": message["outcome"], "files": len(restored), "failed": self.extracted["failed"],
                   "cost": self.plan["cost"], "archive_bytes_read": self.extracted["archive_bytes_read"],
                   "restored": [{k: r[k] for k in ("source", "key", "size")} for r in self.extracted["restored"]]}
        # The record first: a retry after a failed write must not tell the topic again.
        runs_table = DynamoDBHook(aws_conn_id=self.aws_conn_id).conn.Table(resources.dynamodb_table("runs"))
        record = runs.record_run(runs_table, hook.conn, resources.bucket("reports"), context["run_id"], summary)
        if record.get("notified_at"):
            self.log.info("%s was told at %s (an earlier try): not again", request["sns_topic_arn"],
                          record["notified_at"])
        else:
            text = notify.publishable(message)
            if text is None:
                text = notify.publishable(message, self._manifest_url(hook, message, context["run_id"], expires_in))
            SnsHook(aws_conn_id=self.aws_conn_id).publish_to_target(request["sns_topic_arn"], text,
                                                                     subject=notify.subject(message))
            runs.mark_notified(runs_table, context["run_id"])
            self.log.info("told %s: %s; cost %s", request["sns_topic_arn"], message["outcome"], self.plan["cost"])
        if self.extracted["failed"]:
            from archiveflow.errors import RunIncomplete

            raise RunIncomplete(f"{len(self.extracted['failed'])} files not restored: {self.extracted['failed'][:5]}")
        return {k: v for k, v in summary.items() if k not in ("failed", "restored")}

    def _manifest_url(self, hook, message: dict, run_id: str, expires_in: int) -> str:
        import json

        bucket = self.plan["request"]["restore_bucket"]
        key = f"{self.plan['request']['destination_prefix']}_restore-manifests/{run_id}.json"
        hook.conn.put_object(Bucket=bucket, Key=key, Body=json.dumps(message, indent=1).encode(),
                             ContentType="application/json")
        return hook.conn.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                ExpiresIn=expires_in)


def restore_buckets() -> set[str]:
    """Where restores may write: the deployment's restore bucket plus the Variable's list, read at run time."""
    from archiveflow.operators.base import listed_buckets
    from archiveflow.restore.request import RESTORE_BUCKETS_VARIABLE

    return {resources.bucket("restore"), *listed_buckets(RESTORE_BUCKETS_VARIABLE)}


def _not_restore_buckets() -> set[str]:
    """Every declared bucket but the restore bucket: archives, sources, warehouses are never written to."""
    return {resources.bucket(name) for name in resources.declared()["s3_buckets"] if name != "restore"}


def _credentials_expiry(hook):
    """When the connection's temporary credentials expire (None for long-term keys)."""
    credentials = hook.get_session().get_credentials()
    # botocore keeps the expiry of refreshable (role) credentials only in this attribute.
    return getattr(credentials, "_expiry_time", None)

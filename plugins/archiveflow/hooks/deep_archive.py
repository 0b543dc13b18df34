"""Airflow side of deep archiving: AWS clients from the connection, bad input as AirflowFailException."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import yaml
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
from airflow.providers.amazon.aws.hooks.sts import StsHook
from airflow.sdk.exceptions import AirflowFailException
from boto3.dynamodb.conditions import Key

from archiveflow import resources
from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.index import now_iso

RUN_PK = "s3_deep_archive#run#{run_id}"
SOURCE_PK = "s3_deep_archive#source#{bucket}/{prefix}"


@contextmanager
def _fail_on_bad_input():
    try:
        yield
    except planner.InvalidRequest as err:
        raise AirflowFailException(str(err)) from err


class DeepArchiveHook(AwsBaseHook):
    """Validates archive requests, plans them, and records what each run archived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, client_type="s3", **kwargs)

    def _requests(self, confs: Iterable[Mapping]) -> list[planner.ArchiveRequest]:
        forbidden = {resources.bucket(name) for name in resources.declared()["s3_buckets"] if name != "source"}
        account = StsHook(aws_conn_id=self.aws_conn_id).get_account_number()
        with _fail_on_bad_input():
            checked = [planner.ArchiveRequest.from_conf(conf, resources.bucket("archive")) for conf in confs]
            for request in checked:
                planner.check_access(request, self.conn, account=account, region=self.conn_region_name,
                                     forbidden=forbidden)
        return checked

    def validate(self, confs: Iterable[Mapping]) -> list[dict]:
        """Check every field, then (reads only) buckets, account and region; return the full requests."""
        return [asdict(request) for request in self._requests(confs)]

    def plan(self, confs: Iterable[Mapping], plan_id: str, dry_run: bool) -> dict:
        """Plan the requests (checked again: a retry may come days later); a dry run writes nothing."""
        return planner.plan(self.conn, self._dynamodb(), self._requests(confs), plan_id=plan_id,
                            plan_bucket=resources.bucket("archive"),
                            index_table=resources.dynamodb_table("archive-index"), dry_run=dry_run)

    def due_monthly_sources(self, path: Path, month: str) -> list[dict]:
        """The scheduled run's sources (read at run time) that no run archived in ``month`` (YYYY-MM)."""
        with _fail_on_bad_input():
            sources = (yaml.safe_load(path.read_text()) or {}).get("sources") or []
            if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
                raise planner.InvalidRequest("sources", f"{path.name} must hold a list of source mappings")
        due = []
        for source in self.validate(sources):
            if done := self.archived_in(month, source):
                self.log.info("skip s3://%s/%s: archived in %s by %s", source["bucket_name"], source["prefix"],
                              month, done)
            else:
                due.append(source)
        return due

    def _dynamodb(self):
        return DynamoDBHook(aws_conn_id=self.aws_conn_id).conn

    def _runs(self):
        return self._dynamodb().Table(resources.dynamodb_table("runs"))

    def archived_in(self, month: str, request: Mapping) -> list[str]:
        """Run ids that archived this source in ``month`` (YYYY-MM)."""
        pk = SOURCE_PK.format(bucket=request["bucket_name"], prefix=request["prefix"])
        response = self._runs().query(KeyConditionExpression=Key("pk").eq(pk) & Key("sk").begins_with(month))
        return [item["run_id"] for item in response["Items"]]

    def record(self, run_id: str, month: str, result: Mapping) -> None:
        """One item for the run, one per source (what makes the scheduled run skip it this month)."""
        archived_at = now_iso()
        with self._runs().batch_writer() as batch:
            batch.put_item(Item={"pk": RUN_PK.format(run_id=run_id), "sk": "run", "run_id": run_id,
                                 "dag_id": "s3_deep_archive", "archived_at": archived_at,
                                 **_dynamodb_numbers({k: result[k] for k in ("plan_id", "totals", "cost")})})
            for request in result["requests"]:
                batch.put_item(Item={
                    "pk": SOURCE_PK.format(bucket=request["bucket_name"], prefix=request["prefix"]),
                    "sk": f"{month}#{run_id}", "run_id": run_id, "plan_id": result["plan_id"],
                    "project_name": request["project_name"], "archived_at": archived_at,
                })


def _dynamodb_numbers(value: dict) -> dict:
    """DynamoDB takes Decimal, not float."""
    return json.loads(json.dumps(value), parse_float=Decimal)

"""Operators of the `s3_deep_archive` DAG: request → plan → (approve) → pack (Batch) → record.

They open the provider's hooks and hand clients to the plain-Python core in
`archiveflow.deep_archive`. Heavy imports stay inside `run`: the DAG file imports this module
at parse time.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from archiveflow import resources
from archiveflow.operators.base import ArchiveflowOperator

MONTHLY_SOURCES_VARIABLE = "archiveflow_deep_archive_monthly_sources"
ARCHIVE_BUCKETS_VARIABLE = "archiveflow_deep_archive_archive_buckets"
MONTHLY_SOURCES_FILE = ("deep_archive", "monthly_sources.yaml")


class _DeepArchiveOperator(ArchiveflowOperator):
    def __init__(self, *, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def checked_requests(self, confs: list[dict]) -> list:
        """Requests whose buckets, account and region were checked against AWS (reads only)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        from archiveflow.deep_archive.plan import check_access
        from archiveflow.deep_archive.request import ArchiveRequest

        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        account = StsHook(aws_conn_id=self.aws_conn_id).get_account_number()
        declared = {name: resources.bucket(name) for name in resources.declared()["s3_buckets"]}
        not_sources = {bucket for name, bucket in declared.items() if name != "source"}
        not_archives = {bucket for name, bucket in declared.items() if name != "archive"}
        requests = [ArchiveRequest(**conf) for conf in confs]
        for request in requests:
            check_access(request, s3.conn, account=account, region=s3.conn_region_name, not_sources=not_sources,
                         archive_buckets=archive_buckets(), not_archives=not_archives)
        return requests

    def runs_table(self):
        from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

        return DynamoDBHook(aws_conn_id=self.aws_conn_id).conn.Table(resources.dynamodb_table("runs"))


class ResolveArchiveSourcesOperator(_DeepArchiveOperator):
    """The sources this run archives: the conf (a triggered run), or the monthly list (the scheduled
    run) minus the sources a run already archived this month. Every source is checked before
    anything is written; bad input fails naming the field."""

    def run(self, context) -> list[dict]:
        from archiveflow.deep_archive.request import FIELDS, parse_request

        archive_bucket = resources.bucket("archive")
        if context["dag_run"].run_type == "scheduled":
            requests = self._due_monthly_sources(archive_bucket, month=f"{context['dag_run'].run_after:%Y-%m}")
        else:
            self.warn_unknown_fields(FIELDS, context["params"])
            requests = [parse_request(context["params"], archive_bucket)]
        return [asdict(request) for request in self.checked_requests([asdict(r) for r in requests])]

    def _due_monthly_sources(self, archive_bucket: str, month: str) -> list:
        from archiveflow.deep_archive.request import parse_monthly_sources
        from archiveflow.deep_archive.runs import archived_in

        sources, origin = monthly_sources()
        if not sources:
            self.log.info("no monthly source in %s: this run archives nothing", origin)
            return []
        due = []
        for request in parse_monthly_sources(sources, archive_bucket, origin):
            if done := archived_in(self.runs_table(), month, request.bucket_name, request.prefix):
                self.log.info("skip s3://%s/%s: archived in %s by %s", request.bucket_name, request.prefix, month,
                              done)
            else:
                due.append(request)
        return due


def monthly_sources() -> tuple[Any, str]:
    """The scheduled run's source list and where it came from: the Airflow Variable (JSON, editable
    in the UI) when set, else the YAML file in include/. Read at run time: edits apply to the next run."""
    import yaml
    from airflow.sdk import Variable

    from archiveflow.paths import include_path

    value = Variable.get(MONTHLY_SOURCES_VARIABLE, default=None, deserialize_json=True)
    if value is not None:
        return value, f"Variable {MONTHLY_SOURCES_VARIABLE}"
    path = include_path(*MONTHLY_SOURCES_FILE)
    return (yaml.safe_load(path.read_text()) or {}).get("sources"), f"include/{'/'.join(MONTHLY_SOURCES_FILE)}"


def archive_buckets() -> set[str]:
    """Where bundles may go: the deployment's archive bucket plus the buckets listed in the Airflow
    Variable (a JSON list of names), read at run time."""
    from archiveflow.operators.base import listed_buckets

    return {resources.bucket("archive"), *listed_buckets(ARCHIVE_BUCKETS_VARIABLE)}


class PlanBundlesOperator(_DeepArchiveOperator):
    """Stream the sources' listings into bundle manifests in S3 and the plan object; a dry run
    writes nothing. Outputs (multiple_outputs) what approval, Batch and the record step need."""

    template_fields = ("sources",)

    def __init__(self, *, sources: Any, **kwargs: Any) -> None:
        super().__init__(multiple_outputs=True, **kwargs)
        self.sources = sources

    def run(self, context) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from archiveflow.deep_archive.plan import index_usage_summary, plan, plan_key, summary
        from archiveflow.deep_archive.request import parse_options
        from archiveflow.hooks.archive_catalog import archive_index

        options = parse_options(context["params"])
        run_after = context["dag_run"].run_after
        plan_id = f"{run_after:%Y%m%dT%H%M%S}-{hashlib.sha256(context['run_id'].encode()).hexdigest()[:8]}"
        # Checked again: a retry, or an approval, may come days after the sources were resolved.
        requests = self.checked_requests(self.sources)
        with archive_index(self.aws_conn_id, writing=True) as (store, index_usage):
            document = plan(S3Hook(aws_conn_id=self.aws_conn_id).conn, store, requests, plan_id=plan_id,
                            plan_bucket=resources.bucket("archive"),
                            index_table=resources.dynamodb_table("archive-index"), dry_run=options.dry_run)
            lookups = index_usage()
        report = f"{summary(document)}\n{index_usage_summary(lookups)}"
        self.log.info("%s", report)
        return {
            "plan_id": plan_id, "units": len(document["units"]), "report": report,
            "result": {**{k: document[k] for k in ("plan_id", "totals", "cost", "requests")}, "index": lookups},
            "job_name": f"s3-deep-archive-{plan_id}",
            "array_properties": {"size": document["array_size"]} if document["array_size"] > 1 else None,
            "container_overrides": {"environment": [
                {"name": "ARCHIVEFLOW_PLAN", "value": f"s3://{document['plan_bucket']}/{plan_key(plan_id)}"}]},
        }


class RecordArchiveRunOperator(_DeepArchiveOperator):
    """The run and each of its sources in the `runs` table."""

    template_fields = ("result",)

    def __init__(self, *, result: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result

    def run(self, context) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from archiveflow.deep_archive.runs import record_run

        record_run(self.runs_table(), S3Hook(aws_conn_id=self.aws_conn_id).conn, resources.bucket("reports"),
                   context["run_id"], f"{context['dag_run'].run_after:%Y-%m}", self.result)
        self.log.info("archived %s; cost %s", self.result["totals"], self.result["cost"])
        return self.result["totals"]

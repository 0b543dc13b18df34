"""s3_deep_archive: pack small S3 objects into zip bundles in Deep Archive and index every file."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task

from archiveflow import resources
from archiveflow.operators.batch import BatchOperator

STORAGE_CLASSES = ["DEEP_ARCHIVE", "GLACIER", "GLACIER_IR", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"]
OPTIONAL_TEXT = ["null", "string"]

DOC = """
### Deep-archive packing

Millions of small objects cost far more in Glacier Deep Archive one by one (each carries 40 KB of
billed overhead and a transition request) than packed into a few large `.zip` bundles. This DAG:

1. **resolve_sources** — the run's conf (the `/archive` payload) or, on the monthly schedule
   (10th, 03:00), `include/deep_archive/monthly_sources.yaml`, read at run time, minus every source
   a triggered run already archived this month. Bad input fails here, naming the field, with no retry.
2. **plan** — streams the listing of each prefix into bundle manifests in S3 (`_plans/` in the archive
   bucket), skipping objects already indexed; bundles respect `file_count` and `archive_size` (MB)
   and keep key order; objects bigger than `archive_size` are archived on their own.
3. **approve** — when `require_approval`, shows the plan (files, bytes, bundles, monthly cost before
   and after, one-off request cost); *Reject* ends the run with nothing archived.
4. **pack** — one AWS Batch array job, one child per bundle, running
   `python -m archiveflow.deep_archive.worker`: each child streams its objects into a zip uploaded by
   multipart straight into `storage_class`, writes one DynamoDB index item per file and an index object
   next to the bundle, then deletes the sources if `delete_source` is set.
5. **record** — the run and its sources in the `runs` table.

`dry_run` stops after the plan and writes nothing. Re-running is safe: indexed files are skipped,
finished bundles are not redone, an interrupted bundle is redone from scratch under the same key.
"""

with DAG(
    dag_id="s3_deep_archive",
    description="Pack small S3 objects into zip bundles in Deep Archive; index every file",
    schedule="0 3 10 * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs over one prefix would archive the same files twice
    doc_md=DOC,
    tags=["archiveflow", "s3", "deep-archive"],
    default_args={"owner": "archiveflow", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "project_name": Param(None, type=OPTIONAL_TEXT, minLength=1, maxLength=64,
                              pattern="^[A-Za-z0-9][A-Za-z0-9._-]*$",
                              description="Project the files belong to; restores look files up by it"),
        "bucket_name": Param(None, type=OPTIONAL_TEXT, minLength=3, maxLength=63,
                             description="Source bucket (required unless the monthly schedule runs)"),
        "prefix": Param(None, type=OPTIONAL_TEXT, minLength=1, description="Key prefix to archive (not empty)"),
        "file_count": Param(50_000, type="integer", minimum=1, maximum=100_000,
                            description="Most files in one bundle"),
        "archive_size": Param(500, type="integer", minimum=1, maximum=102_400,
                              description="Largest bundle, in MB; bigger objects are archived on their own"),
        "account": Param(None, type=OPTIONAL_TEXT, pattern="^[0-9]{12}$",
                         description="AWS account id; must match the connection's (optional)"),
        "region": Param(None, type=OPTIONAL_TEXT, pattern="^[a-z]{2}(-[a-z]+)+-[0-9]$",
                        description="AWS region; must match the connection's and the buckets' (optional)"),
        "storage_class": Param("DEEP_ARCHIVE", type="string", enum=STORAGE_CLASSES,
                               description="Storage class of the bundles"),
        "output_prefix": Param(None, type=OPTIONAL_TEXT, pattern="^[A-Za-z0-9!_.*'()=/-]+$",
                               description="Key prefix of the bundles in the archive bucket (default: project_name)"),
        "archive_bucket": Param(None, type=OPTIONAL_TEXT, minLength=3, maxLength=63,
                                description="Destination bucket (default: the deployment's archive bucket)"),
        "dry_run": Param(False, type="boolean", description="Plan and report only; write nothing"),
        "delete_source": Param(False, type="boolean",
                               description="Delete each source object once its bundle is uploaded and indexed"),
        "require_approval": Param(True, type="boolean", description="Wait for a human to approve the plan"),
    },
) as dag:

    @task
    def resolve_sources(params: dict) -> list[dict]:
        from archiveflow.hooks.deep_archive import DeepArchiveHook

        context = get_current_context()
        hook = DeepArchiveHook()
        if context["dag_run"].run_type != "scheduled":
            return hook.validate([params])
        from archiveflow.paths import include_path

        # The scheduled run's sources; ARCHIVEFLOW_MONTHLY_SOURCES points elsewhere (tests, other deployments).
        path = Path(os.environ.get("ARCHIVEFLOW_MONTHLY_SOURCES") or include_path("deep_archive", "monthly_sources.yaml"))
        return hook.due_monthly_sources(path, month=f"{context['dag_run'].run_after:%Y-%m}")

    @task(multiple_outputs=True)
    def plan(sources: list[dict], params: dict, run_id: str) -> dict:
        from archiveflow.deep_archive.plan import plan_key, summary
        from archiveflow.hooks.deep_archive import DeepArchiveHook

        run_after = get_current_context()["dag_run"].run_after
        plan_id = f"{run_after:%Y%m%dT%H%M%S}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"
        document = DeepArchiveHook().plan(sources, plan_id, dry_run=params["dry_run"])
        report = summary(document)
        print(report)
        units = len(document["units"])
        return {
            "plan_id": plan_id, "units": units, "report": report,
            "result": {k: document[k] for k in ("plan_id", "totals", "cost", "requests")},
            "job_name": f"s3-deep-archive-{plan_id}",
            "array_properties": {"size": document["array_size"]} if document["array_size"] > 1 else None,
            "container_overrides": {"environment": [
                {"name": "ARCHIVEFLOW_PLAN", "value": f"s3://{document['plan_bucket']}/{plan_key(plan_id)}"}]},
        }

    @task.branch
    def route(units: int, params: dict) -> str | None:
        if params["dry_run"]:
            print("dry run: the plan above is all this run does")
            return None
        if units == 0:
            return "record"
        return "approve" if params["require_approval"] else "pack"

    approve = ApprovalOperator(
        task_id="approve",
        subject="Archive this plan to S3 Deep Archive?",
        body="{{ ti.xcom_pull(task_ids='plan', key='report') }}",
        defaults="Reject",  # taken when nobody answers in time
        response_timeout=timedelta(days=7),
        ignore_downstream_trigger_rules=True,  # a rejection skips pack and record
    )

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def record(result: dict, run_id: str) -> dict:
        from archiveflow.hooks.deep_archive import DeepArchiveHook

        month = f"{get_current_context()['dag_run'].run_after:%Y-%m}"
        DeepArchiveHook().record(run_id, month, result)
        print(f"archived {result['totals']}; cost {result['cost']}")
        return result["totals"]

    sources = resolve_sources()
    planned = plan(sources)
    pack = BatchOperator(
        task_id="pack",
        job_name=planned["job_name"],
        job_queue=resources.batch_job_queue(),
        job_definition=resources.batch_job_definition("pack-bundle"),
        array_properties=planned["array_properties"],
        container_overrides=planned["container_overrides"],
        retry_strategy={"attempts": 3},  # a child that dies (spot reclaim) is redone by Batch itself
        deferrable=True,
        poll_interval=60,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    routed = route(planned["units"])
    routed >> [approve, pack]
    approve >> pack
    pack >> record(planned["result"])

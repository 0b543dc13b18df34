"""s3_deep_archive (Airflow DAG): pack small S3 objects into zip bundles in Deep Archive and index every file."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import TriggerRule, task

from archiveflow import resources
from archiveflow.dag_builder import archiveflow_dag
from archiveflow.deep_archive.request import FIELDS
from archiveflow.operators.batch import BatchOperator
from archiveflow.operators.deep_archive import (
    PlanBundlesOperator,
    RecordArchiveRunOperator,
    ResolveArchiveSourcesOperator,
)

DOC = """
### Deep-archive packing

Millions of small objects cost far more in Glacier Deep Archive one by one (each carries 40 KB of
billed overhead and a transition request) than packed into a few large `.zip` bundles. This DAG:

1. **resolve_sources** — the run's conf (the `/archive` payload) or, on the monthly schedule
   (10th, 03:00), the monthly list: the Airflow Variable `archiveflow_deep_archive_monthly_sources`
   (JSON, editable in the UI) or, when unset, `include/deep_archive/monthly_sources.yaml`, read at run
   time, minus every source a run already archived this month. Each entry takes the same fields as
   the conf. Bad input fails here, naming the field, with no retry; an empty list archives nothing.
   Bundles go only to the deployment's archive buckets (the archive bucket plus the Variable
   `archiveflow_deep_archive_archive_buckets`, a JSON list), never a source, warehouse or lakehouse
   bucket; an `output_prefix` starting with `_` is reserved (`_plans/` expires after 30 days).
2. **plan** — streams each prefix's objects (from its S3 Inventory report when the source names
   `inventory_manifest`, never listing the bucket; else a listing fanned out over sub-prefixes) into
   bundle manifests in S3 (`_plans/` in the archive bucket), skipping objects whose current version is already archived (asked of the index, through
   the lakehouse_sql engine in the `catalog` mode) (one rewritten since is
   archived again); overlapping sources (`reports/` and `reports/2026/`) are planned once, the most
   specific entry owning its files; bundles respect `file_count` and `archive_size` (MiB) and keep
   key order (bundles by running sums, the rule the SQL plan shares); objects bigger than an eighth of
   `archive_size` are archived on their own (under a derived name when their key would pass S3's
   1,024 bytes). An object deleted after its inventory is left out when packing and reported.
   In the `catalog` index mode a source with an inventory is planned in SQL by the lakehouse_sql engine
   (Athena, or DuckDB locally): the report anti-joined with the archive catalog, bundles by the same rule,
   each bundle's manifest written to S3 by the engine (`UNLOAD`); nothing is read row by row here.
3. **approve** — when `require_approval`, shows the plan (files, bytes, bundles, monthly cost before
   and after, one-off request cost, the index's cost in both modes and per look-up); *Reject* ends the run with nothing archived.
4. **pack** — one AWS Batch array job, one child per bundle, running
   `python -m archiveflow.deep_archive.worker`: each child streams its objects into a zip uploaded by
   multipart straight into `storage_class`, writes the index in the deployment's index mode (Variable
   `archiveflow_archive_index_mode`: DynamoDB items, a version item per file and its newest item; or
   one commit of the bundle's rows to the Iceberg archive catalog: original key, member name, offset,
   sizes, CRC-32) and an index object next to the bundle, then deletes the sources if `delete_source`
   is set. Member names are safe and unique (no
   `..`, `//`, leading `/`, control characters or backslashes; collisions get `~N`), so `unzip`
   extracts one file per member. A unit that fails does not stop the others: the child fails at the
   end naming every failed unit.
5. **record** — the run and its sources in the `runs` table.

`dry_run` stops after the plan and writes nothing. Re-running is safe: indexed files are skipped,
finished bundles are not redone, an interrupted bundle is redone from scratch under the same key.
"""

with archiveflow_dag("s3_deep_archive", FIELDS, DOC,
                     description="Pack small S3 objects into zip bundles in Deep Archive; index every file",
                     tags=["s3", "deep-archive"], schedule="0 3 10 * *",
                     max_active_runs=1,  # two runs over one prefix would archive the same files twice
                     retry_delay=timedelta(minutes=1)) as dag:

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

    sources = ResolveArchiveSourcesOperator(task_id="resolve_sources")
    planned = PlanBundlesOperator(task_id="plan", sources=sources.output).output
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
    pack >> RecordArchiveRunOperator(task_id="record", result=planned["result"],
                                      trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

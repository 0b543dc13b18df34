"""Operators of the `rdbms_archival` DAG: they open connections through provider hooks and hand
them to the plain-Python core in `archiveflow.rdbms_archival`.

Bad input fails (no retries) before any side effect, and so does source data the archive cannot
store (NaN in numeric(p, s), infinite dates...: a retry reads the same snapshot and fails the same
way) and a refused purge: see `archiveflow.errors` and `operators.base`. Everything else may be
retried: every step is idempotent (see iceberg_sink and purge).

The DAG file imports this module at parse time, so the heavy libraries (pyarrow, pyiceberg,
ADBC, reportlab, the AWS hooks) are imported inside `run`, where they are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from archiveflow import resources
from archiveflow.errors import BadRequest, RunIncomplete
from archiveflow.operators.base import ArchiveflowOperator
from archiveflow.rdbms_archival import metadata
from archiveflow.rdbms_archival.request import ArchivalRequest, parse_request

if TYPE_CHECKING:
    import psycopg

    from archiveflow.hooks.source_postgres import SourceDatabaseHook
    from archiveflow.rdbms_archival.allowed_sources import AllowedSources
    from archiveflow.rdbms_archival.source import TablePlan


class RdbmsArchivalBaseOperator(ArchiveflowOperator):
    """Shared plumbing: the request from the run's params, the source connection, catalog, recorder."""

    def __init__(self, *, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    @staticmethod
    def request(context) -> ArchivalRequest:
        return parse_request(context["params"])

    @staticmethod
    def glue_database(request: ArchivalRequest) -> str:
        return request.target_glue_database or resources.glue_database("archive")

    @contextlib.contextmanager
    def source(self, request: ArchivalRequest) -> Iterator[tuple[psycopg.Connection, SourceDatabaseHook]]:
        """An autocommit psycopg connection to the source database (search_path pinned), and its hook."""
        import psycopg
        from airflow.sdk.exceptions import AirflowNotFoundException

        from archiveflow.hooks.source_postgres import SourceDatabaseHook

        hook = SourceDatabaseHook(postgres_conn_id=request.source_conn_id, database=request.source_database)
        try:
            hook.get_connection(request.source_conn_id)
        except AirflowNotFoundException:
            raise BadRequest("glue_connection", f"no Airflow connection {request.source_conn_id!r}") from None
        self.allowed_sources = hook.allowed_sources  # a malformed allow-list fails before connecting
        try:
            conn = hook.get_conn()
        except psycopg.OperationalError as e:
            if "does not exist" in str(e):
                raise BadRequest("source_database", str(e).strip()) from None
            raise
        conn.autocommit = True
        with conn:
            yield conn, hook

    allowed_sources: AllowedSources  # of the connection `source()` opened last

    @staticmethod
    def adbc_uri(hook: SourceDatabaseHook) -> str:
        """The libpq connection string for the ADBC driver: every parameter of the hook's open
        connection, search_path pinned (it holds the password: never log it)."""
        return hook.adbc_conninfo()

    def plan(self, conn: psycopg.Connection, request: ArchivalRequest, index: int) -> TablePlan:
        from archiveflow.rdbms_archival.source import plan_table

        return plan_table(conn, request, index, self.glue_database(request), self.allowed_sources)

    @cached_property
    def catalog(self):
        from archiveflow.hooks.iceberg import IcebergCatalogHook

        return IcebergCatalogHook(aws_conn_id=self.aws_conn_id).get_catalog()

    @cached_property
    def recorder(self) -> metadata.RunRecorder:
        return _recorder(self.aws_conn_id)


def _session_note(hook: SourceDatabaseHook) -> str:
    """For the report: the session settings the archive imposed on the source connection."""
    from archiveflow.rdbms_archival.session import SEARCH_PATH

    note = f"search_path pinned to {SEARCH_PATH}"
    if hook.replaced_search_path is not None:
        note += f" (the connection's options set {hook.replaced_search_path!r}; ours wins)"
    return note


def _recorder(aws_conn_id: str) -> metadata.RunRecorder:
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = DynamoDBHook(aws_conn_id=aws_conn_id, table_name=resources.dynamodb_table("runs"))
    return metadata.RunRecorder(hook.conn.Table(resources.dynamodb_table("runs")),
                                S3Hook(aws_conn_id=aws_conn_id).get_conn(), resources.bucket("reports"))


class ValidateArchivalRequestOperator(RdbmsArchivalBaseOperator):
    """Check the whole request against the source catalog and the Glue catalog; no table data is
    read and nothing is written until every check passed. Returns one item per table to map over."""

    def run(self, context) -> list[dict]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        from archiveflow.rdbms_archival.request import FIELDS
        from archiveflow.rdbms_archival.source import plan_tables

        request = self.request(context)
        self.warn_unknown_fields(FIELDS, context["params"])
        with self.source(request) as (conn, hook):
            plans = plan_tables(conn, request, self.glue_database(request), self.allowed_sources)
            database = conn.info.dbname
            self.recorder.update(context["run_id"], metadata.RUN_SK, source_session=_session_note(hook))
        try:
            self.catalog.load_namespace_properties(self.glue_database(request))
        except NoSuchNamespaceError:
            raise BadRequest("target_glue_database",
                             f"Glue database {self.glue_database(request)!r} does not exist") from None
        self.recorder.update(context["run_id"], metadata.RUN_SK, status="running", request=request.as_conf(),
                             source_database=database, started_at=context["dag_run"].start_date.isoformat())
        for plan in plans:
            self.log.info("%s -> %s; columns %s; where %s", plan.label, plan.iceberg_table,
                          list(plan.selection.columns), plan.selection.where.as_string())
        return [{"index": p.index, "table": p.label} for p in plans]


class _PerTableOperator(RdbmsArchivalBaseOperator):
    """Mapped over the tables: `table` is the previous step's result for one table (it carries
    at least its `index` in the request and its `table` label)."""

    def __init__(self, *, table: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table


class ArchiveTableOperator(_PerTableOperator):
    """Copy one table's selected rows into its Iceberg table as one snapshot tagged with the run."""

    def run(self, context) -> dict:
        from archiveflow.rdbms_archival.archive import archive_table

        request = self.request(context)
        with self.source(request) as (conn, hook):
            plan = self.plan(conn, request, self.table["index"])
            result = archive_table(conn, self.adbc_uri(hook), self.catalog, plan, request, context["run_id"])
        self.recorder.update(context["run_id"], metadata.table_sk(plan.label), table=plan.label, index=plan.index,
                             condition=plan.request.condition, query=plan.request.query,
                             **{k: result[k] for k in ("iceberg_table", "snapshot_id", "rows_archived", "rows_skipped",
                                                       "source", "skipped", "legal_hold")})
        return result


class ValidateArchiveOperator(_PerTableOperator):
    """Schema, row count and per-column checksums: source (recorded at archive time) vs the run's
    snapshot. `table` is ArchiveTableOperator's result."""

    def run(self, context) -> dict:
        from archiveflow.rdbms_archival.validation import ValidationFailed, validate_snapshot, withdraw_run

        request = self.request(context)
        with self.source(request) as (conn, _):
            plan = self.plan(conn, request, self.table["index"])
        table = self.catalog.load_table(self.table["iceberg_table"])
        # what else a purge of this table sets off: listed with the validation and in the report
        effects = {"triggers": list(plan.source.triggers), "cascades": [fk.label for fk in plan.source.referenced_by]}
        try:
            result = {**validate_snapshot(table, self.table, plan.columns, request.batch_size), **effects}
        except ValidationFailed as e:
            withdraw_run(table, context["run_id"])
            self.log.error("%s: the run's rows are withdrawn from %s (kept in its history)", plan.label, table.name())
            self.recorder.update(context["run_id"], metadata.table_sk(plan.label),
                                 validation={**e.result, **effects, "withdrawn": True})
            raise
        for trigger in effects["triggers"]:
            self.log.info("%s: trigger %s", plan.label, trigger["definition"])
        self.recorder.update(context["run_id"], metadata.table_sk(plan.label), validation=result)
        return {**self.table, "validation": result}


class PurgeArchivedRowsOperator(_PerTableOperator):
    """Delete the validated, archived rows from the source (opt-in; legal hold and dry run
    respected). `table` is ValidateArchiveOperator's result."""

    def run(self, context) -> dict:
        from archiveflow.rdbms_archival.purge import purge_rows, skip_reason

        request = self.request(context)
        table = self.catalog.load_table(self.table["iceberg_table"]) if request.purge else None
        reason = skip_reason(table.properties if table else {}, request.purge)
        if reason is not None:
            result = {"status": "skipped", "reason": reason}
        else:
            with self.source(request) as (conn, _):
                plan = self.plan(conn, request, self.table["index"])
                result = purge_rows(conn, plan, table, self.table["validation"], request.batch_size, request.dry_run)
        self.log.info("%s: purge %s", self.table["table"], result)
        self.recorder.update(context["run_id"], metadata.table_sk(self.table["table"]), purge=result)
        return result


class ArchivalReportOperator(RdbmsArchivalBaseOperator):
    """Build the PDF report from the run's metadata and store it in the reports bucket (runs after
    success or failure: a failed run gets a report too)."""

    def run(self, context) -> str:
        import hashlib

        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from archiveflow.rdbms_archival.report import build_pdf, report_key

        run_id = context["run_id"]
        status, _ = metadata.run_status(self.recorder.items(run_id))
        self.recorder.update(run_id, metadata.RUN_SK, status=status)
        key = report_key(run_id)
        pdf = build_pdf(run_id, self.recorder.items(run_id))
        S3Hook(aws_conn_id=self.aws_conn_id).load_bytes(pdf, key, resources.bucket("reports"), replace=True)
        self.recorder.update(run_id, metadata.RUN_SK, report_key=f"s3://{resources.bucket('reports')}/{key}",
                             report_sha256=hashlib.sha256(pdf).hexdigest())
        self.log.info("report: s3://%s/%s (%d bytes)", resources.bucket("reports"), key, len(pdf))
        return key


class FinishArchivalRunOperator(RdbmsArchivalBaseOperator):
    """Record the run's outcome, notify the SNS topic when one is deployed, and fail the DAG run
    if the archival failed (this task runs whatever happened upstream)."""

    def run(self, context) -> str:
        from archiveflow.rdbms_archival.report import retention_until

        run_id = context["run_id"]
        items = self.recorder.items(run_id)
        status, reasons = metadata.run_status(items)
        run = next((i for i in items if i["sk"] == metadata.RUN_SK), {})
        finished = dt.datetime.now(dt.UTC).isoformat()
        extra = {}
        if run.get("started_at") and run.get("request"):
            extra["retention_until"] = retention_until(run["started_at"], int(run["request"]["retention_policy"]))
        self.recorder.update(run_id, metadata.RUN_SK, status=status, reasons=reasons, finished_at=finished, **extra)
        self._notify(run_id, status, reasons, run.get("report_key"))
        if status != "succeeded":
            # The run's outcome, already recorded: nothing a retry could change.
            raise RunIncomplete(f"archival run {run_id} failed: " + "; ".join(reasons))
        return status

    def _notify(self, run_id: str, status: str, reasons: list[str], report: str | None) -> None:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from archiveflow.hooks.sns import declared_topic_arn

        hook = SnsHook(aws_conn_id=self.aws_conn_id)
        arn = declared_topic_arn(hook, "notifications")
        if arn is None:
            self.log.info("no SNS topic %r in this account: not notifying", resources.sns_topic("notifications"))
            return
        message = "\n".join([f"rdbms_archival run {run_id}: {status}", f"report: {report or '-'}", *reasons])
        hook.publish_to_target(arn, message, subject=f"rdbms_archival {status}")


def record_task_failure(context) -> None:
    """on_failure_callback: the failed task and its reason go into the run's metadata."""
    ti = context["ti"]
    recorder = _recorder(getattr(context["task"], "aws_conn_id", "aws_default"))
    reason = str(context.get("exception") or "unknown error")[:2000]
    recorder.update(context["run_id"], metadata.failure_sk(ti.task_id, ti.map_index), task=ti.task_id,
                    map_index=ti.map_index, reason=reason)
    recorder.update(context["run_id"], metadata.RUN_SK, status="failed")

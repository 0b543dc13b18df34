"""`LakehouseSqlOperator`: run lakehouse `.sql` files (Athena dialect, one statement each, in order)
on the engine the `lakehouse_sql` connection names. The DAG does not know which one runs.

- Athena (AWS): each statement is submitted through the provider's `AthenaHook.run_query` (the
  lakehouse Glue database as the query's database, the connection's workgroup, results under the
  athena-results bucket) and the task defers to the provider's `AthenaTrigger`: no worker slot is
  held while a query runs. The next file is submitted when the trigger reports success. A MERGE
  that fails with `ICEBERG_COMMIT_ERROR` (another writer committed to its table first) is submitted
  again whole, so Athena computes it from the table's new snapshot, after a jittered backoff
  (deferred), up to 8 attempts (`archiveflow.lakehouse.commit_conflicts`); then the task fails naming the table.
- DuckDB (the local stack): `archiveflow.lakehouse.local_engine` runs the same statement, translated
  by sqlglot; Iceberg writes are committed with pyiceberg to the same Glue catalog.

`parameters` bind the files' `:name` placeholders as SQL literals. When the task has `outlets`
(Assets), each gets `asset_extra` on its event, e.g. the days a downstream DAG must recompute.
Re-running a task re-runs idempotent statements: `CREATE TABLE IF NOT EXISTS`, MERGEs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from archiveflow import resources
from archiveflow.errors import BadRequest, TransientServiceError
from archiveflow.failpoints import failpoint
from archiveflow.operators.base import ArchiveflowOperator, fail_without_retry

RESULTS_PREFIX = "lakehouse_sql/"
CONFLICT_BACKOFF_SECONDS = 2.0   # the first wait after a lost commit race on Athena (then doubled, jittered)


def lakehouse_variables() -> dict[str, str]:
    """The deployment names the SQL files' `{{ ... }}` use."""
    return {"lakehouse": f"s3://{resources.bucket('lakehouse')}/"}


def local_engine(hook):
    """The DuckDB + pyiceberg engine on the AWS connection the `lakehouse_sql` hook names."""
    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.lakehouse.local_engine import LocalLakehouse

    catalog_hook = IcebergCatalogHook(hook.aws_conn_id)   # its client is the Glue client
    return LocalLakehouse(hook.duckdb_connection, catalog_hook.get_catalog, catalog_hook.get_conn,
                          resources.glue_database("lakehouse"))


class LakehouseSqlOperator(ArchiveflowOperator):
    template_fields: Sequence[str] = ("parameters", "asset_extra")
    template_fields_renderers = {"parameters": "json", "asset_extra": "json"}
    ui_color = "#dff5e1"

    def __init__(self, *, sql: str | list[str], parameters: dict[str, Any] | None = None,
                 asset_extra: dict[str, Any] | None = None, lakehouse_sql_conn_id: str = "lakehouse_sql",
                 waiter_delay: int = 10, waiter_max_attempts: int = 720, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql = [sql] if isinstance(sql, str) else list(sql)
        self.parameters = parameters or {}
        self.asset_extra = asset_extra or {}
        self.lakehouse_sql_conn_id = lakehouse_sql_conn_id
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _hook(self):
        from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook

        return LakehouseSqlHook(self.lakehouse_sql_conn_id)

    def _statement(self, sql_file: str):
        from archiveflow.lakehouse.statements import load_statement

        try:
            return load_statement(sql_file, self.parameters, lakehouse_variables())
        except KeyError as err:
            raise BadRequest("parameters", f"{sql_file}: {err.args[0]}") from None

    def run(self, context) -> list[dict]:
        hook = self._hook()
        if hook.engine == "athena":
            return self._submit(context, hook, 0, [])
        with contextlib.closing(local_engine(hook)) as engine:
            results = [self._run_local(engine, sql_file, context) for sql_file in self.sql]
        self._emit_asset_events(context)
        return results

    # --- DuckDB + pyiceberg ---------------------------------------------------------------------

    def _run_local(self, engine, sql_file: str, context) -> dict:
        result = engine.run(self._statement(sql_file), {"archiveflow.run_id": context["run_id"],
                                                        "archiveflow.statement": sql_file})
        failpoint(f"lakehouse_sql.{sql_file.rsplit('/', 1)[-1].removesuffix('.sql')}")  # after its commit
        summary = {"sql": sql_file, "engine": "duckdb", **result.as_dict()}
        self.log.info("%s on DuckDB: %s", sql_file, summary)
        return summary

    # --- Athena ---------------------------------------------------------------------------------

    def _submit(self, context, hook, index: int, done: list[dict], attempt: int = 1) -> list[dict]:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook
        from airflow.providers.amazon.aws.triggers.athena import AthenaTrigger

        from archiveflow.lakehouse.statements import athena_sql

        sql_file = self.sql[index]
        workgroup = hook.extra.get("workgroup") or resources.athena_workgroup("lakehouse")
        output = hook.extra.get("output_location") or f"s3://{resources.bucket('athena-results')}/{RESULTS_PREFIX}"
        query_id = AthenaHook(aws_conn_id=hook.aws_conn_id).run_query(
            athena_sql(self._statement(sql_file)), query_context={"Database": resources.glue_database("lakehouse")},
            result_configuration={"OutputLocation": output}, workgroup=workgroup)
        self.log.info("%s submitted to Athena (workgroup %s, attempt %s): query %s; deferring until it ends",
                      sql_file, workgroup, attempt, query_id)
        self.defer(trigger=AthenaTrigger(query_execution_id=query_id, waiter_delay=self.waiter_delay,
                                         waiter_max_attempts=self.waiter_max_attempts, aws_conn_id=hook.aws_conn_id),
                   method_name="resume_after_query",
                   kwargs={"index": index, "done": [*done, {"sql": sql_file, "engine": "athena", "query_id": query_id,
                                                           "attempt": attempt}]})
        return done

    def resume_after_query(self, context, event: dict | None = None, index: int = 0,
                           done: list[dict] | None = None) -> list[dict]:
        with fail_without_retry():
            done = list(done or [])
            if not event or event.get("status") != "success":
                return self._after_failed_query(index, done, event)
            self.log.info("%s: Athena query %s succeeded", self.sql[index], done[-1]["query_id"])
            if index + 1 < len(self.sql):
                return self._submit(context, self._hook(), index + 1, done)
            self._emit_asset_events(context)
            return done

    def _after_failed_query(self, index: int, done: list[dict], event: dict | None) -> list[dict]:
        """A lost commit race is submitted again (deferred backoff first); any other failure fails the attempt."""
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from archiveflow.lakehouse.commit_conflicts import (
            MERGE_ATTEMPTS,
            athena_commit_conflict,
            backoff_seconds,
            conflict_message,
        )

        failed = done[-1]
        execution = AthenaHook(aws_conn_id=self._hook().aws_conn_id).get_query_info(failed["query_id"])["QueryExecution"]
        if not athena_commit_conflict(execution):
            raise TransientServiceError(f"Athena query of {self.sql[index]} ({failed['query_id']}) did not succeed: "
                                        f"{execution.get('Status', {}).get('StateChangeReason') or event}")
        table = f"{resources.glue_database('lakehouse')}.{self._statement(self.sql[index]).this.name}"
        attempt = failed.get("attempt", 1)
        if attempt >= MERGE_ATTEMPTS:
            raise TransientServiceError(f"{conflict_message(table)} (last query {failed['query_id']})")
        wait = backoff_seconds(attempt, CONFLICT_BACKOFF_SECONDS)
        self.log.warning("%s: query %s lost an Iceberg commit race on %s (attempt %s of %s); submitting it again "
                         "in %.1f s, computed from the table's new snapshot", self.sql[index], failed["query_id"],
                         table, attempt, MERGE_ATTEMPTS, wait)
        self.defer(trigger=DateTimeTrigger(moment=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)),
                   method_name="resubmit_after_conflict",
                   kwargs={"index": index, "done": done[:-1], "attempt": attempt + 1})
        return done

    def resubmit_after_conflict(self, context, event: Any = None, index: int = 0, done: list[dict] | None = None,
                                attempt: int = 2) -> list[dict]:
        with fail_without_retry():
            return self._submit(context, self._hook(), index, list(done or []), attempt)

    # --- Assets ---------------------------------------------------------------------------------

    def asset_event_extra(self, context) -> dict[str, Any]:
        """The `extra` of the outlets' events: `asset_extra` (a subclass may work it out)."""
        return dict(self.asset_extra)

    def _emit_asset_events(self, context) -> None:
        if not self.outlets:
            return
        extra = self.asset_event_extra(context)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = dict(extra)
        self.log.info("asset events %s with extra %s", [o.name for o in self.outlets], extra)

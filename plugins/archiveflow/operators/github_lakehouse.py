"""Operators of the GitHub lakehouse ingestion DAGs (`github_ingestion`, `github_events_api`): they
open the HTTP and AWS connections through the provider hooks and hand them to the plain-Python core
in `archiveflow.github_lakehouse`.

Every step is safe to retry: the Bronze table is created or brought up to date, an hour is written
to one deterministic key by one multipart upload (completed only after the whole hour streamed and
passed its checks, aborted otherwise, so a failed attempt leaves nothing and a re-run replaces; a try
killed outright leaves its upload open, and the next try aborts it), and
the Events API poll remembers where each run started (see `PollEventsApiOperator`).

Heavy imports (the AWS and HTTP hooks) happen inside `run`: the DAG files import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

from archiveflow import resources
from archiveflow.errors import BadRequest, TransientServiceError, UnarchivableData
from archiveflow.failpoints import failpoint
from archiveflow.github_lakehouse.bronze import (
    CREATED_AT_PATTERN,
    TABLE,
    GhHour,
    encode_row,
    events_api_day,
    events_api_key,
)
from archiveflow.github_lakehouse.request import parse_events_api_request, parse_ingestion_request
from archiveflow.operators.base import ArchiveflowOperator
from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

MIB = 1 << 20
BODY_CHUNK = 1 * MIB       # bytes read from the HTTP body at a time
PART_SIZE = 5 * MIB        # S3's smallest part: 2 parts in flight bound the upload's memory (48 GiB max object)
EVENTS_API_STATE_PK = "github_events_api#state"
SILVER_SQL = ["github_lakehouse/silver_table.sql", "github_lakehouse/silver_merge.sql"]


def silver_parameters(ingest_dt: str, bronze_object: str) -> dict[str, str]:
    """The parameters of `silver_merge.sql`: the Bronze object (its arrival partition and URL) and
    the `created_at` pattern Bronze checks lines with (Silver skips a line that does not match)."""
    return {"ingest_dt": ingest_dt, "bronze_object": bronze_object, "created_at_pattern": CREATED_AT_PATTERN}


def update_silver_task(source_task_id: str):
    """The `update_silver` task of both Bronze DAGs: the Bronze object the `source_task_id` task
    wrote (its XCom's `bronze` and `ingest_dt`) merged into Silver, then the Silver Asset event
    naming the days of its events (which triggers `github_gold`)."""
    from archiveflow.assets import GITHUB_EVENTS_SILVER

    pulled = f"ti.xcom_pull(task_ids='{source_task_id}')"
    return UpdateSilverOperator(
        task_id="update_silver", source_task_id=source_task_id, outlets=[GITHUB_EVENTS_SILVER],
        parameters=silver_parameters(f"{{{{ {pulled}['ingest_dt'] }}}}", f"{{{{ {pulled}['bronze'] }}}}"))


class UpdateSilverOperator(LakehouseSqlOperator):
    """`silver_table.sql` + `silver_merge.sql` for one Bronze object. Silver files each event under
    its own day (`created_at`, UTC), whichever Bronze partition it arrived in, so the Asset event's
    `extra.days` are the days of the object's events, as the source task counted them."""

    def __init__(self, *, source_task_id: str, **kwargs: Any) -> None:
        super().__init__(sql=SILVER_SQL, **kwargs)
        self.source_task_id = source_task_id

    def asset_event_extra(self, context) -> dict[str, Any]:
        source = context["ti"].xcom_pull(task_ids=self.source_task_id)
        return {"days": source["days"], "bronze_object": source["bronze"]}


def wrote_bronze(poll_summary: dict) -> bool:
    """ShortCircuit condition after a poll: Silver has something to merge (a poll that found no
    new event wrote no object)."""
    return bool(poll_summary.get("bronze"))


def check_http_connection(conn_id: str) -> None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise BadRequest("http_conn_id", f"no Airflow connection {conn_id!r}") from None


class GithubLakehouseOperator(ArchiveflowOperator):
    """Shared plumbing: the S3 client and the `runs` table of the AWS connection."""

    def __init__(self, *, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def runs_table(self):
        from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

        name = resources.dynamodb_table("runs")
        return DynamoDBHook(aws_conn_id=self.aws_conn_id, table_name=name).get_conn().Table(name)

    def record(self, pk: str, sk: str, **attributes: Any) -> None:
        from archiveflow.run_items import put_run_item

        item = {"pk": pk, "sk": sk, "updated_at": dt.datetime.now(dt.UTC).isoformat(), **attributes}
        put_run_item(self.runs_table(), self.s3(), resources.bucket("reports"), item)


class RegisterBronzeTableOperator(GithubLakehouseOperator):
    """Create `github_events_bronze` in the lakehouse Glue database, or bring it up to date: on
    Athena by running `include/sql/github_lakehouse/bronze_table.sql`, elsewhere (DuckDB, the local
    stack) through the Glue API with the same definition."""

    def __init__(self, *, lakehouse_sql_conn_id: str = "lakehouse_sql", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lakehouse_sql_conn_id = lakehouse_sql_conn_id

    def run(self, context) -> dict:
        from archiveflow.github_lakehouse.catalog import bronze_ddl, bronze_location, bronze_table_input
        from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook

        database, bucket = resources.glue_database("lakehouse"), resources.bucket("lakehouse")
        sql = LakehouseSqlHook(self.lakehouse_sql_conn_id)
        if sql.engine == "athena":
            sql.get_records(bronze_ddl(database, bucket))
            how = "Athena DDL"
        else:
            how = self._glue_upsert(sql.aws_conn_id, database, bronze_table_input(database, bucket))
        self.log.info("%s.%s at %s (%s)", database, TABLE, bronze_location(bucket), how)
        return {"database": database, "table": TABLE, "location": bronze_location(bucket), "how": how}

    @staticmethod
    def _glue_upsert(aws_conn_id: str, database: str, table_input: dict) -> str:
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        glue = GlueCatalogHook(aws_conn_id=aws_conn_id).conn
        try:
            glue.create_table(DatabaseName=database, TableInput=table_input)
            return "created through the Glue API"
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=table_input)
            return "updated through the Glue API"


class PlanHourOperator(GithubLakehouseOperator):
    """Parse the request and pick the hour: `hour` from the conf, else the run's data interval,
    else (a manual run without one) the last complete hour. Fails naming the field on bad input."""

    def run(self, context) -> dict:
        request = parse_ingestion_request(context["params"])
        check_http_connection(request.http_conn_id)
        hour = request.hour or self._interval_hour(context)
        plan = {"hour": hour.name, "ingest_dt": hour.ingest_dt, "source_path": hour.source_path,
                "bucket": resources.bucket("lakehouse"), "key": hour.bronze_key}
        self.log.info("GH Archive hour %s -> s3://%s/%s", hour.name, plan["bucket"], plan["key"])
        return plan

    @staticmethod
    def _interval_hour(context) -> GhHour:
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is not None and end is not None and end > start:
            return GhHour.of(start)
        return GhHour.of(context["dag_run"].run_after - dt.timedelta(hours=1))


class IngestHourOperator(GithubLakehouseOperator):
    """Stream the planned hour from the GH Archive connection into its Bronze object."""

    template_fields = ("plan",)

    def __init__(self, *, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def run(self, context) -> dict:
        from airflow.providers.http.hooks.http import HttpHook

        request = parse_ingestion_request(context["params"])
        hook = HttpHook(method="GET", http_conn_id=request.http_conn_id)
        url = hook.url_from_endpoint(self.plan["source_path"])
        started = time.monotonic()
        response = hook.run(self.plan["source_path"],
                            extra_options={"stream": True, "check_response": False, "timeout": (30, 300)})
        with contextlib.closing(response):
            if response.status_code != 200:
                raise TransientServiceError(f"GET {url}: HTTP {response.status_code} {response.reason}")
            stats, written = self._upload(response, url, request.max_malformed_percent)
        seconds = time.monotonic() - started
        summary = {"hour": self.plan["hour"], "ingest_dt": GhHour.parse(self.plan["hour"]).ingest_dt, "source": url,
                   "bronze": f"s3://{self.plan['bucket']}/{self.plan['key']}",
                   **stats.as_dict(), "bronze_bytes": written["size"], "seconds": round(seconds, 1)}
        self.log.info("hour %s: %s lines read, %s written to %s, %s malformed %s (%.1f MiB in %.0f s)",
                      self.plan["hour"], stats.lines, stats.written, summary["bronze"], stats.malformed_lines,
                      dict(stats.malformed), stats.source_bytes / MIB, seconds)
        for sample in stats.samples:
            self.log.warning("malformed line %(line)s (%(reason)s): %(text)s", sample)
        self.record(f"github_ingestion#{context['run_id']}", f"hour#{self.plan['hour']}", **summary)
        return summary

    def _upload(self, response, url: str, max_malformed_percent: float):
        from archiveflow.deep_archive.s3io import MultipartUpload, abort_stale_uploads
        from archiveflow.github_lakehouse.stream import CorruptSource, stream_to_bronze

        if stale := abort_stale_uploads(self.s3(), self.plan["bucket"], self.plan["key"]):
            self.log.info("aborted %s upload(s) of the hour left by a killed try", stale)
        upload = MultipartUpload(self.s3(), self.plan["bucket"], self.plan["key"], "STANDARD", PART_SIZE,
                                 content_type="application/gzip")
        try:
            stats = stream_to_bronze(_body_chunks(response, url), upload, progress=self._progress)
            _check_malformed(stats, max_malformed_percent, url)
            failpoint("github_ingestion.parts_uploaded")
            written = upload.complete()
            failpoint("github_ingestion.bronze_written")
            return stats, written
        except CorruptSource as err:
            upload.abort()
            raise TransientServiceError(f"GET {url}: {err}") from None
        except BaseException:
            upload.abort()  # nothing of a failed attempt reaches Bronze
            raise

    def _progress(self, stats) -> None:
        self.log.info("hour %s: %s lines, %.1f MiB read so far", self.plan["hour"], f"{stats.lines:,}",
                      stats.source_bytes / MIB)


def _body_chunks(response, url: str) -> Iterator[bytes]:
    """The body as sent (the .json.gz file itself), refusing one cut short of its Content-Length."""
    import urllib3

    expected = response.headers.get("Content-Length")
    received = 0
    try:
        for chunk in response.raw.stream(BODY_CHUNK, decode_content=False):
            received += len(chunk)
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise TransientServiceError(f"GET {url}: body cut after {received:,} of {expected or '?'} bytes: {err}") from None
    if expected is not None and received != int(expected):
        raise TransientServiceError(f"GET {url}: body cut after {received:,} of {expected} bytes")


def _check_malformed(stats, max_percent: float, url: str) -> None:
    if stats.lines and stats.malformed_lines * 100 > max_percent * stats.lines:
        raise UnarchivableData(
            f"{url}: {stats.malformed_lines:,} of {stats.lines:,} lines are not GitHub events "
            f"({dict(stats.malformed)}), more than max_malformed_percent={max_percent}; nothing written. "
            f"First: {stats.samples[:2]}")


class PollEventsApiOperator(GithubLakehouseOperator):
    """One poll of the Events API into Bronze (`events-api-<run time>.json.gz` in the day's partition).

    Where the last poll stopped (its ETag and the newest event id) is kept in the `runs` table
    (pk `github_events_api#state`, sk = the connection id), with where the run that moved it
    started: a retry of that run starts from there again and rewrites its own object whole; a run
    whose object already exists and that no longer owns the state (cleared long after) does nothing.
    An exhausted rate limit defers the task until the limit resets.
    """

    def run(self, context) -> dict:
        from archiveflow.deep_archive.s3io import exists
        from archiveflow.github_lakehouse.events_api import PollState, event_days, poll

        request = parse_events_api_request(context["params"])
        check_http_connection(request.http_conn_id)
        run_id, bucket = context["run_id"], resources.bucket("lakehouse")
        polled_at = context["dag_run"].run_after
        key, day = events_api_key(polled_at), events_api_day(polled_at)
        saved = self._load_state(request.http_conn_id)
        own_retry = saved.get("last_run_id") == run_id
        if not own_retry and exists(self.s3(), bucket, key):
            self.log.info("s3://%s/%s already holds this run's poll: nothing to do", bucket, key)
            rows = [json.loads(line) for line in gzip.decompress(
                self.s3().get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()]
            return {"outcome": "already_ingested", "bronze": f"s3://{bucket}/{key}", "ingest_dt": day,
                    "days": event_days(rows)}
        prefix = "previous_" if own_retry else ""
        start = PollState(saved.get(f"{prefix}etag"), int(saved.get(f"{prefix}watermark", 0)))
        fetch = self._fetcher(request.http_conn_id)
        failpoint("github_events_api.polling")
        result = poll(fetch, start, time.time(), request.per_page, request.max_pages)
        if result.outcome == "rate_limited":
            return self._wait_for_reset(result.retry_at, request.max_rate_limit_wait_minutes)
        if result.rows:
            body = gzip.compress(b"".join(encode_row(row) + b"\n" for row in result.rows), 6, mtime=0)
            self.s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")
        self._save_state(request.http_conn_id, run_id, start, result)
        summary = {"outcome": result.outcome, "events_written": len(result.rows), "pages": result.pages,
                   "malformed": result.malformed, "malformed_samples": result.malformed_samples,
                   "days": event_days(result.rows), "watermark": str(result.watermark),
                   "rate_limit_remaining": result.rate_limit_remaining,
                   "bronze": f"s3://{bucket}/{key}" if result.rows else None, "ingest_dt": day}
        self.log.info("Events API poll: %s", summary)
        for sample in result.malformed_samples:
            self.log.warning("malformed event (%(reason)s): %(text)s", sample)
        self.record(f"github_events_api#{run_id}", "run", **summary)
        return summary

    def resume_after_rate_limit(self, context, event: Any = None) -> dict:
        self.log.info("rate limit reset: polling again")
        return self.execute(context)

    def _wait_for_reset(self, retry_at: float, max_minutes: float) -> dict:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        wait = max(retry_at - time.time(), 0)
        if wait > max_minutes * 60:
            raise TransientServiceError(f"GitHub rate limit exhausted; it resets in {wait / 60:.0f} minutes, "
                                        f"more than max_rate_limit_wait_minutes={max_minutes}")
        moment = dt.datetime.fromtimestamp(retry_at, dt.UTC)
        self.log.info("GitHub rate limit exhausted: waiting (deferred) until %s", moment.isoformat())
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="resume_after_rate_limit")
        return {}

    def _fetcher(self, conn_id: str):
        from airflow.providers.http.hooks.http import HttpHook

        from archiveflow.github_lakehouse.events_api import ApiResponse, relative_endpoint

        hook = HttpHook(method="GET", http_conn_id=conn_id)
        base_url = hook.url_from_endpoint("")

        def fetch(endpoint: str, headers) -> ApiResponse:
            if endpoint.startswith(("http://", "https://")):
                endpoint = relative_endpoint(base_url, endpoint)
            response = hook.run(endpoint, headers=dict(headers), extra_options={"check_response": False, "timeout": 30})
            self.log.info("GET %s: HTTP %s (rate limit remaining %s)", response.url, response.status_code,
                          response.headers.get("X-RateLimit-Remaining"))
            return ApiResponse(response.status_code, response.headers, response.content)

        return fetch

    def _load_state(self, conn_id: str) -> dict:
        return self.runs_table().get_item(Key={"pk": EVENTS_API_STATE_PK, "sk": conn_id}).get("Item") or {}

    def _save_state(self, conn_id: str, run_id: str, start, result) -> None:
        self.record(EVENTS_API_STATE_PK, conn_id, etag=result.etag, watermark=str(result.watermark),
                    last_run_id=run_id, previous_etag=start.etag, previous_watermark=str(start.watermark))

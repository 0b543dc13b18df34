"""`/archive`: the archive page and its API, served by the Airflow API server as a plugin FastAPI app
(listed in the UI's nav as "Archive" through the plugin's `external_views`).

Behind Airflow's own authentication (the UI's session cookie, or a JWT from `POST /auth/token` as
`Authorization: Bearer …`) and authorization, asked of the auth manager for the logged-in user:

| route | needs |
|---|---|
| `GET /api/files`, `POST /api/bundles`, `POST /api/quote`, `GET /api/savings` | read the `s3_deep_archive` DAG |
| `GET /api/tables` | read the `rdbms_archival` DAG |
| `POST /api/restores` | trigger `s3_restore` (create a run of it) |
| `GET /api/restores/{run_id}`, `…/download` | read `s3_restore`'s runs |

The catalog is the Iceberg table `archive_catalog`, read through the `lakehouse_sql` engine (Athena on
AWS, DuckDB locally) whatever the deployment's index mode: in the `dynamodb` mode the page reads it if
it exists (a migration made it) and otherwise answers 409 saying how to make it
(`python -m archiveflow.deep_archive.migrate_index --to catalog`). Restores triggered here run
`s3_restore` as the user (Airflow's own trigger endpoint, called in-process with the user), and its
look-up reads the index of the deployment's mode.

As in `archiveflow.api.sensors`, FastAPI and Airflow's API modules are imported inside `create_app`
(no `from __future__ import annotations`: FastAPI reads the routes' annotations).
"""

import functools
import threading
from pathlib import Path
from typing import Any

from archiveflow import resources

PAGE_DIR = Path(__file__).with_name("archive_page")
CATALOG_DAG_ID = "s3_deep_archive"
TABLES_DAG_ID = "rdbms_archival"
MIGRATE_HINT = ("the archive catalog does not exist yet: this deployment indexes in DynamoDB "
                "(Variable archiveflow_archive_index_mode = dynamodb). Build the catalog from the per-bundle "
                "index objects with `python -m archiveflow.deep_archive.migrate_index --to catalog`, then "
                "reload this page")
MAX_STATUS_BUNDLES = 200


def setting(name: str, fallback: str) -> str:
    """`[archiveflow] <name>` (AIRFLOW__ARCHIVEFLOW__<NAME>)."""
    from airflow.configuration import conf

    return conf.get("archiveflow", name, fallback=fallback)


class CatalogReader:
    """One catalog hook per API server process (a DuckDB connection locally), used by one request at
    a time: each query re-reads the table's current metadata, so new bundles show at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._hook = None
        self._exists = False

    def hook(self):
        from archiveflow.hooks.archive_catalog import ArchiveCatalogHook

        if self._hook is None:
            self._hook = ArchiveCatalogHook(setting("archive_page_lakehouse_sql_conn_id", "lakehouse_sql"))
        return self._hook

    def exists(self) -> bool:
        from archiveflow.hooks.archive_catalog import catalog_identifier

        if not self._exists:
            self._exists = self.hook()._iceberg.catalog.table_exists(catalog_identifier())
        return self._exists

    def warm(self) -> None:
        """Open the local engine before the first search asks (DuckDB loads its extensions and reads the
        table's metadata: seconds on a busy machine); nothing on Athena, where a query is billed."""
        import logging

        from archiveflow.archive_page import search

        try:
            with self.lock:
                if self.hook().engine == "duckdb" and self.exists():
                    self.hook().select(search.SQL, search.parse_search({"page_size": "1"}).parameters())
        except Exception:  # the first search will say what is wrong
            logging.getLogger(__name__).warning("archive page: warming the catalog engine failed", exc_info=True)

    def select(self, sql_file: str, parameters: dict[str, Any]) -> list[dict]:
        from fastapi import HTTPException

        with self.lock:
            if not self.exists():
                raise HTTPException(status_code=409, detail=MIGRATE_HINT)
            return self.hook().select(sql_file, parameters)

    def files(self, names: list[str]) -> dict[str, list[dict]]:
        """`bucket/key` -> its versions, oldest first (the restore look-up's query)."""
        from fastapi import HTTPException

        with self.lock:
            if not self.exists():
                raise HTTPException(status_code=409, detail=MIGRATE_HINT)
            return self.hook().index().files(names, with_versions=True)


@functools.cache
def aws_conn_id() -> str:
    return setting("archive_page_aws_conn_id", "aws_default")


def s3():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id()).conn


def runs_items(prefix: str) -> list[dict]:
    """Every item of the `runs` table whose key starts with ``prefix`` (one paginated Scan: the table
    holds a few items per run), long lists read back from S3."""
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
    from boto3.dynamodb.conditions import Attr

    from archiveflow.run_items import expand

    table = DynamoDBHook(aws_conn_id=aws_conn_id()).conn.Table(resources.dynamodb_table("runs"))
    client = s3()
    kwargs: dict[str, Any] = {"FilterExpression": Attr("pk").begins_with(prefix)}
    items: list[dict] = []
    while True:
        page = table.scan(**kwargs)
        items += [expand(client, item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def restore_files(run_id: str) -> list[dict]:
    """The copies a page restore wrote (its destination prefix in the restore bucket)."""
    from archiveflow.archive_page.restores import destination_prefix

    prefix = destination_prefix(run_id)
    paginator = s3().get_paginator("list_objects_v2")
    found = []
    for page in paginator.paginate(Bucket=resources.bucket("restore"), Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix):]
            if not name.startswith("_restore-manifests/"):
                found.append({"name": name, "size": obj["Size"]})
    return found


def failed_task_error(session, run_id: str) -> str | None:
    """The error of the run's failed task, from its log (the exception it raised)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from sqlalchemy import select

    from archiveflow.archive_page.restores import DAG_ID, error_message

    failed = session.scalars(select(TaskInstance).where(
        TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id, TaskInstance.state == "failed")).all()
    for ti in failed:
        try:
            lines, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {"download_logs": True})
            message = error_message([line.model_dump() if hasattr(line, "model_dump") else dict(line)
                                     for line in lines])
        except Exception as err:  # a log store out of reach: say where to look instead
            message = f"(its log could not be read: {err})"
        return f"{ti.task_id} failed: {message or 'see its log'}"
    return None


@functools.cache
def create_app():
    from fastapi import Request
    from fastapi.responses import FileResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from archiveflow.api import new_app
    from archiveflow.archive_page.search import QUERY_PARAMETERS

    app = new_app("archiveflow archive",
                  "Search the archive catalog, see what archiving saved, restore archived files.",
                  lambda field: "query" if field in QUERY_PARAMETERS else "body")

    app.mount("/static", StaticFiles(directory=PAGE_DIR / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def page(request: Request):
        if not request.url.path.endswith("/"):  # relative asset and API paths need the trailing slash
            return RedirectResponse(url=f"{request.url.path}/", status_code=307)
        return FileResponse(PAGE_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    reader = CatalogReader()
    threading.Thread(target=reader.warm, name="archive-page-warm", daemon=True).start()
    add_catalog_routes(app, reader)
    add_restore_routes(app)
    return app


def add_catalog_routes(app, reader: CatalogReader) -> None:
    from typing import Annotated

    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from fastapi import Body, Depends, Request

    from archiveflow.archive_page import restores, savings, search, tables
    from archiveflow.errors import BadRequest

    read_catalog = [Depends(requires_access_dag("GET", param_dag_id=CATALOG_DAG_ID))]

    @app.get("/api/me")
    def me(user: GetUserDep) -> dict:
        """Who is logged in, whether they may restore, and the deployment's index mode."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.models.variable import Variable

        from archiveflow.hooks.archive_catalog import INDEX_MODE_VARIABLE

        allowed = get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN,
                                                       details=DagDetails(id=restores.DAG_ID), user=user)
        return {"user": user.get_name(), "can_restore": allowed,
                "index_mode": Variable.get(INDEX_MODE_VARIABLE, default_var="dynamodb")}

    @app.get("/api/files", dependencies=read_catalog)
    def files(request: Request) -> dict:
        """A page of archived files whose key starts with `prefix` (filters: bucket, project_name,
        storage_class; `page_size`; `after`: the cursor the previous page gave as `next`)."""
        if unknown := set(request.query_params) - search.QUERY_PARAMETERS:
            raise BadRequest(sorted(unknown)[0], "unknown query parameter")
        asked = search.parse_search(dict(request.query_params))
        return search.group_files(reader.select(search.SQL, asked.parameters()), asked)

    @app.post("/api/bundles", dependencies=read_catalog)
    def bundle_status(body: Annotated[dict, Body()]) -> dict:
        """Each bundle's restore status (`none`, `in_progress`, `available`, `not_needed`):
        `{"bundles": ["s3://bucket/key", ...]}`, bundles of the deployment's archive bucket."""
        return {"bundles": bundle_statuses(body.get("bundles"))}

    @app.post("/api/quote", dependencies=read_catalog)
    def quote(body: Annotated[dict, Body()]) -> dict:
        """What restoring `files` (bucket/key, newest versions) for `restore_days` costs and takes, per tier."""
        return restore_quote(reader, body)

    @app.get("/api/savings", dependencies=read_catalog)
    def saved() -> dict:
        """Per month: files, bytes and bundles archived, monthly storage cost before and after, restore spend."""
        from archiveflow.restore.runs import RUN_PK

        return savings.monthly(reader.select(savings.SQL, {}), runs_items(RUN_PK.format(run_id="")))

    @app.get("/api/tables", dependencies=[Depends(requires_access_dag("GET", param_dag_id=TABLES_DAG_ID))])
    def archived_tables() -> dict:
        """The newest `rdbms_archival` runs: table, condition, rows, Iceberg snapshot, report."""
        return {"runs": tables.archived_tables(runs_items(tables.RUN_PREFIX))}


def bundle_statuses(names: Any) -> dict[str, str]:
    from archiveflow.errors import BadRequest
    from archiveflow.restore.bundles import describe

    if not isinstance(names, list) or len(names) > MAX_STATUS_BUNDLES:
        raise BadRequest("bundles", f"a list of at most {MAX_STATUS_BUNDLES} s3://bucket/key names")
    archive, client, answer = resources.bucket("archive"), s3(), {}
    for name in dict.fromkeys(names):
        bucket, _, key = str(name).removeprefix("s3://").partition("/")
        if bucket != archive or not key:
            raise BadRequest("bundles", f"{name} is not a bundle of the archive bucket {archive}")
        answer[name] = describe(client, bucket, key)["status"]
    return answer


def restore_quote(reader: CatalogReader, body: dict) -> dict:
    from archiveflow.archive_page import restores
    from archiveflow.errors import BadRequest
    from archiveflow.restore.bundles import describe

    names = restores.check_files(body.get("files"))
    days = body.get("restore_days", 7)
    if not isinstance(days, int) or days < 1:
        raise BadRequest("restore_days", "a whole number of days")
    found = reader.files(names)
    if missing := sorted(set(names) - set(found)):
        raise BadRequest("files", f"not in the archive catalog: {', '.join(missing[:5])}")
    newest = [versions[-1] for versions in found.values()]
    client = s3()
    described = [describe(client, bucket, key)
                 for bucket, key in sorted({(v["archive_bucket"], v["archive_key"]) for v in newest})]
    return {"files": len(newest), "bytes": sum(int(v["size"]) for v in newest), "bundles": len(described),
            "tiers": restores.quote(described, len(newest), days)}


def add_restore_routes(app) -> None:
    from typing import Annotated

    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from fastapi import Body, Depends, HTTPException, Request
    from fastapi.responses import StreamingResponse

    from archiveflow.archive_page import restores

    read_restores = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=restores.DAG_ID))]

    @app.post("/api/restores",
              dependencies=[Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=restores.DAG_ID))])
    def restore(request: Request, user: GetUserDep, body: Annotated[dict, Body()]) -> dict:
        """Trigger `s3_restore` as the logged-in user: `{"files": [...], "retrieval_tier", "restore_days"}`."""
        return trigger_restore(request, user, body)

    @app.get("/api/restores/{run_id}", dependencies=read_restores)
    def restore_status(run_id: str) -> dict:
        """Where a page restore is: requested, restoring, extracted (with its files) or failed (with the error)."""
        if not run_id.startswith(restores.RUN_PREFIX):
            raise HTTPException(status_code=404, detail=f"{run_id} is not a restore asked from this page")
        answer = run_status(run_id)
        if answer is None:
            raise HTTPException(status_code=404, detail=f"no s3_restore run {run_id}")
        if answer["status"] == restores.EXTRACTED:
            answer["files"] = restore_files(run_id)
        return answer

    @app.get("/api/restores/{run_id}/download", dependencies=read_restores)
    def download(run_id: str, name: str):
        """One restored file of a page restore, streamed from the restore bucket."""
        obj = restored_object(run_id, name)
        if obj is None:
            raise HTTPException(status_code=404, detail=f"{name!r} is not a file restored by {run_id}")
        filename = name.rsplit("/", 1)[-1].replace('"', "")
        return StreamingResponse(obj["Body"].iter_chunks(1024 * 1024), media_type="application/octet-stream",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                          "Content-Length": str(obj["ContentLength"])})


def trigger_restore(request, user, body: dict) -> dict:
    """`s3_restore` triggered by Airflow's own trigger endpoint (called in-process, as ``user``: the run
    records who triggered it), once the conf passed the DAG's request parser."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    from archiveflow.archive_page import restores

    run_id = restores.new_run_id(user.get_name())
    conf = restores.restore_conf(body, run_id, poll_interval=int(setting("archive_page_poll_interval", "600")),
                                 restore_bucket=resources.bucket("restore"), archive_bucket=resources.bucket("archive"))
    with create_session() as session:
        run = trigger_dag_run(restores.DAG_ID, TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=conf),
                              DBDagBag(), user, session, request)
        state = str(run.state)
    return {"run_id": run_id, "state": state, "status": restores.REQUESTED, "conf": conf}


def run_status(run_id: str) -> dict | None:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from archiveflow.archive_page import restores

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == restores.DAG_ID, DagRun.run_id == run_id))
        if run is None:
            return None
        tasks = {ti.task_id: (str(ti.state) if ti.state else None) for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == restores.DAG_ID, TaskInstance.run_id == run_id))}
        answer = {"run_id": run_id, "state": str(run.state), "tasks": tasks,
                  "status": restores.status(str(run.state), tasks), "triggered_by": run.triggering_user_name,
                  "conf": run.conf}
        if answer["status"] == restores.FAILED:
            answer["error"] = failed_task_error(session, run_id) or "the run failed; see its task logs"
    return answer


def restored_object(run_id: str, name: str) -> dict | None:
    from botocore.exceptions import ClientError

    from archiveflow.archive_page.restores import RUN_PREFIX, destination_prefix

    if not run_id.startswith(RUN_PREFIX) or not name or name.startswith("_restore-manifests/"):
        return None
    try:
        return s3().get_object(Bucket=resources.bucket("restore"), Key=destination_prefix(run_id) + name)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise

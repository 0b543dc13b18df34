"""Shared by the archive page's end-to-end tests: files packed into the archive catalog as
s3_deep_archive packs them, and the deployment's index mode switched to `catalog` while they run."""

from __future__ import annotations

import time

import pytest
from tests.integration.deep_archive.conftest import Aws

from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive import worker
from archiveflow.deep_archive.request import parse_request
from archiveflow.hooks.archive_catalog import INDEX_MODE_VARIABLE


def pack_into_catalog(aws: Aws, files: dict[str, bytes], project: str, storage_class: str = "DEEP_ARCHIVE") -> dict:
    """Upload ``files`` (keys under ``project/``) and archive them with the catalog as the index."""
    from archiveflow.hooks.archive_catalog import ArchiveCatalogHook

    aws.upload(files)
    hook = ArchiveCatalogHook()
    hook.ensure_table()
    try:
        request = parse_request(
            {"project_name": project, "bucket_name": aws.source, "prefix": f"{project}/", "file_count": 2,
             "archive_size": 10, "output_prefix": f"tests/{project}", "storage_class": storage_class}, aws.archive)
        store = hook.index()
        document = planner.plan(aws.s3, store, [request], plan_id=aws.unique(project), plan_bucket=aws.archive,
                                index_table=aws.index.name)
        for unit in document["units"]:
            worker.run_unit(aws.s3, store, document, unit)
        return document
    finally:
        hook.close()


@pytest.fixture
def catalog_mode(airflow_stack):
    """The deployment's index mode is `catalog` (the Variable, over REST) for the test, as it was after."""
    api = airflow_stack
    url = f"{api.base_url}/api/v2/variables"
    before = api.session.get(f"{url}/{INDEX_MODE_VARIABLE}", timeout=30)
    api.session.delete(f"{url}/{INDEX_MODE_VARIABLE}", timeout=30)
    api.session.post(url, json={"key": INDEX_MODE_VARIABLE, "value": "catalog"}, timeout=30).raise_for_status()
    try:
        yield
    finally:
        api.session.delete(f"{url}/{INDEX_MODE_VARIABLE}", timeout=30)
        if before.status_code == 200:
            api.session.post(url, json={"key": INDEX_MODE_VARIABLE, "value": before.json()["value"]}, timeout=30)


def wait_for_restore(session, base_url: str, run_id: str, timeout: float = 300) -> tuple[dict, list[str]]:
    """Poll the page's status endpoint until the restore is extracted or failed: (last answer, statuses seen)."""
    deadline, seen = time.monotonic() + timeout, []
    while True:
        answer = session.get(f"{base_url}/archive/api/restores/{run_id}", timeout=30)
        answer.raise_for_status()
        body = answer.json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("extracted", "failed"):
            return body, seen
        if time.monotonic() > deadline:
            raise TimeoutError(f"restore {run_id} still {body['status']} after {timeout:.0f}s: {body}")
        time.sleep(1)

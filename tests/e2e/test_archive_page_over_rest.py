"""The archive page's API on real Airflow (the plugin app behind Airflow's auth): prefix search of the
archive catalog a page at a time, a quote per tier, a restore triggered as the logged-in user that
reaches "extracted" and serves the file's bytes, a failed restore's own error, the monthly savings,
the rdbms_archival runs, and a viewer who may read but not restore."""

from __future__ import annotations

import pytest
import requests
from tests.e2e.archive_page import catalog_mode, pack_into_catalog, wait_for_restore  # noqa: F401
from tests.integration.deep_archive.conftest import Aws

from devstack.airflow_api import AirflowApi

pytestmark = pytest.mark.e2e


def test_search_restore_download_and_savings_over_rest(airflow_stack, local_stack, catalog_mode):  # noqa: F811
    aws = Aws(local_stack)
    project = aws.unique("page")
    files = {f"{project}/docs/a.csv": b"id,v\n" + b"1,2\n" * 500, f"{project}/docs/b.txt": b"bee\n" * 99,
             f"{project}/docs/c.bin": bytes(range(256)) * 40, f"{project}/other/d.txt": b"not under docs\n"}
    pack_into_catalog(aws, files, project)
    api, base = airflow_stack.session, airflow_stack.base_url
    airflow_stack.wait_for_dag("s3_restore")

    first = api.get(f"{base}/archive/api/files", params={"prefix": f"{project}/docs/", "page_size": 2}, timeout=60)
    assert first.status_code == 200, first.text
    second = api.get(f"{base}/archive/api/files", params={"prefix": f"{project}/docs/", "page_size": 2,
                                                          "after": first.json()["next"]}, timeout=60).json()
    found = first.json()["files"] + second["files"]
    assert [f["key"] for f in found] == sorted(k for k in files if "/docs/" in k)
    assert second["next"] is None
    (version,) = found[0]["versions"]
    assert version["storage_class"] == "DEEP_ARCHIVE" and version["size"] == len(files[f"{project}/docs/a.csv"])
    assert version["bundle"].startswith(f"s3://{aws.archive}/tests/{project}")
    statuses = api.post(f"{base}/archive/api/bundles", json={"bundles": [version["bundle"]]}, timeout=60).json()
    assert statuses["bundles"][version["bundle"]] in ("none", "available")
    refused = api.get(f"{base}/archive/api/files", params={"prefix": project, "page_size": 1000}, timeout=60)
    assert refused.status_code == 422 and refused.json()["field"] == "page_size"

    asked = [f"{aws.source}/{project}/docs/a.csv", f"{aws.source}/{project}/docs/c.bin"]
    quote = api.post(f"{base}/archive/api/quote", json={"files": asked, "restore_days": 7}, timeout=60).json()
    tiers = {t["tier"]: t for t in quote["tiers"]}
    assert quote["files"] == 2 and not tiers["Expedited"]["offered"] and tiers["Standard"]["offered"]
    assert tiers["Standard"]["cost"]["total_usd"] > 0 and tiers["Standard"]["wait"] == "within 12 hours"

    started = api.post(f"{base}/archive/api/restores",
                       json={"files": asked, "retrieval_tier": "Standard", "restore_days": 7}, timeout=60)
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    run = airflow_stack.get(f"/dags/s3_restore/dagRuns/{run_id}")
    assert run["triggering_user_name"] == "admin" and run["conf"]["files"] == sorted(asked)
    done, seen = wait_for_restore(api, base, run_id)
    assert done["status"] == "extracted", done
    assert seen[-1] == "extracted" and set(seen) <= {"requested", "restoring", "extracted"}
    names = sorted(f["name"] for f in done["files"])
    assert len(names) == 2 and names[0].endswith(f"{project}/docs/a.csv")
    download = api.get(f"{base}/archive/api/restores/{run_id}/download", params={"name": names[0]}, timeout=60)
    assert download.status_code == 200 and download.content == files[f"{project}/docs/a.csv"]
    assert api.get(f"{base}/archive/api/restores/{run_id}/download", params={"name": "nothing"},
                   timeout=60).status_code == 404

    missing = f"{aws.source}/{project}/docs/never-archived.csv"
    failing = api.post(f"{base}/archive/api/restores", json={"files": [missing]}, timeout=60).json()
    failed, _ = wait_for_restore(api, base, failing["run_id"])
    assert failed["status"] == "failed" and "look_up" in failed["error"] and "never-archived.csv" in failed["error"]

    months = api.get(f"{base}/archive/api/savings", timeout=60).json()
    newest = months["months"][-1]
    assert newest["files"] >= 4 and newest["bytes"] >= sum(len(data) for data in files.values())
    assert newest["monthly_before_usd"] >= 0 and "monthly_saved_usd" in months["totals"]  # KBs: fractions of a cent
    assert sum(m["restores"] for m in months["months"]) >= 1
    assert "runs" in api.get(f"{base}/archive/api/tables", timeout=60).json()

    viewer = AirflowApi(base, "viewer", "viewer").session
    assert viewer.get(f"{base}/archive/api/me", timeout=30).json()["can_restore"] is False
    assert api.get(f"{base}/archive/api/me", timeout=30).json()["can_restore"] is True
    seen_by_viewer = viewer.get(f"{base}/archive/api/files", params={"prefix": f"{project}/docs/"}, timeout=60)
    assert [f["key"] for f in seen_by_viewer.json()["files"]] == [f["key"] for f in found]
    denied = viewer.post(f"{base}/archive/api/restores", json={"files": asked}, timeout=60)
    assert denied.status_code == 403
    assert requests.get(f"{base}/archive/api/files", timeout=30).status_code == 401  # no token, no catalog

"""The archive page in a real browser (Playwright driving Debian's chromium) on real Airflow: log in,
search a prefix, select two files, restore them with the Standard tier, see the status reach
"extracted", download one and compare its bytes; find the page in the Airflow UI's nav and restore
and download a file there too (the UI's frame forbids downloads of its own); a viewer
sees the catalog but cannot restore. A screenshot of each state is kept under
`.stack/test[_N]/artifacts/archive-page/`."""

from __future__ import annotations

import shutil

import pytest
from tests.e2e.archive_page import catalog_mode, pack_into_catalog  # noqa: F401
from tests.integration.deep_archive.conftest import Aws

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's (make test-tools); Playwright's own browser download is not used
RESTORE_TIMEOUT_MS = 300_000


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test-tools` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    # A loaded machine: the first catalog query of the API server opens DuckDB (extensions, S3 secret).
    expect.set_options(timeout=90_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts(local_stack):
    folder = local_stack.config.home / "artifacts" / "archive-page"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def log_in(browser, base: str, user: str):
    """A browser page signed in through Airflow's own login form."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/auth/login?next=%2Farchive%2F")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(user)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/archive/**")
    expect(page.locator("#who")).to_contain_text(f"Signed in as {user}")
    return page


def search(page, prefix: str, expected: int) -> None:
    """``page``: a page, or the frame the Airflow UI shows it in."""
    from playwright.sync_api import expect

    page.get_by_label("Key prefix").fill(prefix)
    page.get_by_label("Key prefix").press("Enter")  # the keyboard submits the search
    expect(page.locator("input.pick")).to_have_count(expected)
    expect(page.locator("#result-status")).to_contain_text(f"{expected} shown")


def test_log_in_search_restore_download_and_a_read_only_viewer(airflow_stack, local_stack, catalog_mode,  # noqa: F811
                                                               browser, artifacts):
    from playwright.sync_api import expect

    aws = Aws(local_stack)
    project = aws.unique("browser")
    files = {f"{project}/reports/2026-10.csv": b"month,total\n2026-10,1234\n" * 40,
             f"{project}/reports/2026-11.csv": b"month,total\n2026-11,5678\n" * 40,
             f"{project}/reports/notes.txt": "archived, then restored ✓\n".encode() * 10}
    pack_into_catalog(aws, files, project)
    base = airflow_stack.base_url
    airflow_stack.wait_for_dag("s3_restore")

    page = log_in(browser, base, "admin")
    search(page, f"{project}/reports/", 3)
    expect(page.locator("[data-bundle]").first).not_to_have_text("…")  # the bundles' restore status
    page.screenshot(path=artifacts / "1-search.png", full_page=True)

    page.get_by_label(f"Select {project}/reports/2026-10.csv").check()
    page.get_by_label(f"Select {project}/reports/notes.txt").check()
    expect(page.locator("#selection")).to_have_text("2 files selected.")
    standard = page.get_by_role("radio", name="Standard")
    expect(standard).to_be_enabled()
    expect(page.get_by_role("radio", name="Expedited")).to_be_disabled()  # Deep Archive offers no Expedited
    standard.check()
    expect(page.locator("#tier-options")).to_contain_text("within 12 hours")
    page.screenshot(path=artifacts / "2-selected.png", full_page=True)

    page.get_by_role("button", name="Restore", exact=True).click()
    expect(page.locator(".progress[data-status=extracted]")).to_be_visible(timeout=RESTORE_TIMEOUT_MS)
    expect(page.locator(".progress .status").last).to_have_text("Status: extracted")
    page.screenshot(path=artifacts / "3-extracted.png", full_page=True)
    run_id = page.locator("#restores li[data-run-id]").first.get_attribute("data-run-id")
    assert airflow_stack.get(f"/dags/s3_restore/dagRuns/{run_id}")["triggering_user_name"] == "admin"

    with page.expect_download() as download:
        page.get_by_role("link", name="Download notes.txt").click()
    assert download.value.path().read_bytes() == files[f"{project}/reports/notes.txt"]

    page.goto(f"{base}/")  # the Airflow UI's own nav leads to the page, framed
    page.get_by_role("link", name="Archive").first.click()
    page.wait_for_url(f"{base}/plugin/archive")
    framed = page.frame_locator("iframe[title=Archive]")
    expect(framed.locator("h1")).to_have_text("Archive")
    search(framed, f"{project}/reports/2026-11", 1)
    framed.get_by_label(f"Select {project}/reports/2026-11.csv").check()
    expect(framed.get_by_role("radio", name="Standard")).to_be_checked()
    framed.get_by_role("button", name="Restore", exact=True).click()
    expect(framed.locator(".progress[data-status=extracted]")).to_be_visible(timeout=RESTORE_TIMEOUT_MS)
    with page.expect_download() as download:  # the frame has no allow-downloads: started from the top window
        framed.get_by_role("link", name="Download 2026-11.csv").click()
    assert download.value.path().read_bytes() == files[f"{project}/reports/2026-11.csv"]
    page.screenshot(path=artifacts / "4-in-the-airflow-ui.png")

    viewer = log_in(browser, base, "viewer")
    search(viewer, f"{project}/reports/", 3)
    viewer.get_by_label(f"Select {project}/reports/2026-11.csv").check()
    expect(viewer.locator("#restore-denied")).to_be_visible()
    expect(viewer.get_by_role("button", name="Restore", exact=True)).to_be_disabled()
    viewer.screenshot(path=artifacts / "5-viewer-read-only.png", full_page=True)
    for name in ("1-search", "2-selected", "3-extracted", "4-in-the-airflow-ui", "5-viewer-read-only"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000

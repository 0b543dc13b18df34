"""The archive page's plain-Python core: search parameters and pages, monthly savings, restore confs,
quotes and statuses (no services)."""

from __future__ import annotations

from datetime import datetime

import pytest

from archiveflow.archive_page import restores, savings, search, tables
from archiveflow.deep_archive import cost
from archiveflow.errors import BadRequest


def rows(files: dict[str, int], bucket: str = "src") -> list[dict]:
    """Catalog rows in (bucket, key, version) order: ``files`` maps a key to its number of versions."""
    out = []
    for key in sorted(files):
        for n in range(files[key]):
            out.append({"source_bucket": bucket, "source_key": key, "file_name": key.rsplit("/", 1)[-1],
                        "version": f"2026-0{n + 1}-01T00:00:00+00:00#e{n}", "size": 10 + n,
                        "source_last_modified": datetime(2026, n + 1, 1), "project_name": "p",
                        "archive_bucket": "arch", "archive_key": f"b/{n}.zip", "archive_format": "zip",
                        "storage_class": "DEEP_ARCHIVE", "archived_at": datetime(2026, 11, 2, 3, 4, 5)})
    return out


def test_a_prefix_reads_the_partitions_it_falls_in_and_only_its_keys():
    long = search.parse_search({"prefix": "reports/2026/"}).parameters()
    assert (long["key_prefix"], long["key_prefix_end"]) == ("reports/", "reports0")
    assert (long["prefix"], long["prefix_end"]) == ("reports/2026/", "reports/20260")
    short = search.parse_search({"prefix": "rep"}).parameters()
    assert (short["key_prefix"], short["key_prefix_end"]) == ("rep", "req")
    every = search.parse_search({}).parameters()
    assert every["prefix"] == "" and every["prefix_end"] == search.TOP
    assert search.successor("a" + search.TOP) == "b"
    assert every["row_limit"] == search.DEFAULT_PAGE_SIZE * search.ROWS_PER_FILE + 1


@pytest.mark.parametrize(("query", "field"), [
    ({"bucket": "Not_A_Bucket"}, "bucket"), ({"page_size": "0"}, "page_size"), ({"page_size": "x"}, "page_size"),
    ({"storage_class": "COLD"}, "storage_class"), ({"project_name": "a b"}, "project_name"),
    ({"prefix": "a\nb"}, "prefix"), ({"after": "bm90IGpzb24"}, "after")])
def test_bad_search_parameters_are_refused_naming_them(query, field):
    with pytest.raises(BadRequest) as refused:
        search.parse_search(query)
    assert refused.value.field == field


def test_a_page_groups_versions_and_its_cursor_leads_to_the_next_file():
    asked = search.parse_search({"page_size": "2"})
    page = search.group_files(rows({"a/1": 2, "a/2": 1, "a/3": 1}), asked)
    assert [(f["key"], len(f["versions"])) for f in page["files"]] == [("a/1", 2), ("a/2", 1)]
    assert page["files"][0]["versions"][1]["archived_at"] == "2026-11-02T03:04:05Z"
    assert page["files"][0]["versions"][0]["bundle"] == "s3://arch/b/0.zip"
    assert search.decode_cursor(page["next"]) == ("src", "a/2")
    assert search.parse_search({"after": page["next"]}).after == ("src", "a/2")
    last = search.group_files(rows({"a/3": 1}), asked)
    assert last["next"] is None


def test_a_file_cut_short_by_the_row_limit_is_left_for_the_next_page():
    asked = search.parse_search({"page_size": "1"})  # row limit 5
    page = search.group_files(rows({"a/1": 2, "a/2": 3}), asked)  # 5 rows: a/2 may have more versions
    assert [f["key"] for f in page["files"]] == ["a/1"]
    assert search.decode_cursor(page["next"]) == ("src", "a/1")


def test_savings_price_each_month_with_the_cost_model_and_add_restore_spend():
    archived = [{"month": "2026-10", "storage_class": "DEEP_ARCHIVE", "files": 1000, "bytes": 50 * cost.GB,
                 "bundles": 2},
                {"month": "2026-11", "storage_class": "GLACIER", "files": 10, "bytes": cost.GB, "bundles": 1}]
    restores_run = [{"finished_at": "2026-11-05T10:00:00+00:00", "cost": {"total_usd": 0.25}},
                    {"finished_at": None, "cost": {"total_usd": 9}}]
    answer = savings.monthly(archived, restores_run)
    october, november = answer["months"]
    expected = cost.estimate("DEEP_ARCHIVE", 1000, 50 * cost.GB, 2, savings.PART_SIZE, index_mode="catalog")
    assert october["before_usd"] == expected["monthly_before_usd"]
    assert october["after_usd"] == expected["monthly_after_usd"]
    assert october["after_usd"] < october["before_usd"]
    assert (november["restores"], november["restore_usd"]) == (1, 0.25)
    assert november["monthly_before_usd"] == pytest.approx(october["before_usd"] + november["before_usd"], abs=1e-4)
    assert answer["totals"]["files"] == 1010 and answer["totals"]["restore_usd"] == 0.25
    assert answer["totals"]["monthly_saved_usd"] > 0


def test_a_page_restore_conf_is_checked_by_the_dags_own_parser():
    run_id = restores.new_run_id("jane.doe@example.com")
    assert run_id.startswith(restores.RUN_PREFIX) and "@" not in run_id
    conf = restores.restore_conf({"files": ["src/a/1", "src/a/2", "src/a/1"], "retrieval_tier": "Standard",
                                  "restore_days": 7}, run_id, poll_interval=5, restore_bucket="restore",
                                 archive_bucket="archive")
    assert conf["files"] == ["src/a/1", "src/a/2"]
    assert conf["destination_prefix"] == f"archive-page/{run_id}/"
    for body, field in [({"files": []}, "files"), ({"files": ["bare-name.csv"]}, "files"),
                        ({"files": ["src/a"], "retrieval_tier": "Fast"}, "retrieval_tier"),
                        ({"files": ["src/a"], "restore_days": 2}, "restore_days"),
                        ({"files": ["src/a"], "version": 1}, "version")]:
        with pytest.raises(BadRequest) as refused:
            restores.restore_conf(body, run_id, poll_interval=5, restore_bucket="restore", archive_bucket="archive")
        assert refused.value.field == field


def test_the_quote_offers_each_tier_the_bundles_allow_with_its_cost_and_wait():
    described = [{"bucket": "arch", "key": "b/0.zip", "storage_class": "DEEP_ARCHIVE", "size": cost.GB,
                  "archive_status": None, "status": "none"}]
    by_tier = {q["tier"]: q for q in restores.quote(described, 2, 7)}
    assert by_tier["Expedited"]["offered"] is False
    assert by_tier["Standard"]["offered"] and by_tier["Standard"]["wait"] == "within 12 hours"
    assert by_tier["Standard"]["cost"]["total_usd"] > by_tier["Bulk"]["cost"]["total_usd"] > 0
    ready = [{**described[0], "storage_class": "STANDARD", "status": "not_needed"}]
    assert all(q["offered"] and q["wait"] == restores.NO_RESTORE_WAIT for q in restores.quote(ready, 1, 7))


@pytest.mark.parametrize(("run_state", "tasks", "expected"), [
    ("queued", {}, "requested"),
    ("running", {"look_up": "success", "request_restores": "running"}, "requested"),
    ("running", {"request_restores": "success", "wait_for_restores": "deferred"}, "restoring"),
    ("running", {"wait_for_restores": "success", "extract": "running"}, "restoring"),
    ("running", {"extract": "success", "notify": "running"}, "extracted"),
    ("success", {}, "extracted"),
    ("running", {"look_up": "failed"}, "failed"),
    ("failed", {"look_up": "success"}, "failed"),
])
def test_a_runs_task_states_say_where_the_restore_is(run_state, tasks, expected):
    assert restores.status(run_state, tasks) == expected


def test_the_error_is_the_last_exception_of_the_failed_tasks_log():
    lines = [{"event": "starting"}, {"event": "Task failed", "level": "error",
                                     "error_detail": [{"exc_type": "BadRequest", "exc_value": "files[0]: not archived"}]}]
    assert restores.error_message(lines) == "BadRequest: files[0]: not archived"
    assert restores.error_message([{"event": "boom", "level": "error"}]) == "boom"
    assert restores.error_message([{"event": "fine"}]) is None


def test_archived_tables_list_each_runs_tables_with_their_condition():
    items = [{"pk": "rdbms_archival#r1", "sk": "run", "status": "succeeded", "finished_at": "2026-11-01T00:00:00",
              "report_key": "s3://reports/r1.pdf", "request": {"tables": [{"table_name": "products",
                                                                            "condition": "Index < 20"}]}},
             {"pk": "rdbms_archival#r1", "sk": "table#public.products", "table": "public.products",
              "rows_archived": 19, "iceberg_table": "archive.products", "snapshot_id": 42},
             {"pk": "rdbms_archival#r2", "sk": "run", "status": "running"}]
    running, done = tables.archived_tables(items)
    assert running["run_id"] == "r2" and running["tables"] == []
    assert done["tables"] == [{"table": "public.products", "rows": 19, "iceberg_table": "archive.products",
                               "snapshot_id": 42, "condition": "Index < 20"}]
    assert done["report"] == "s3://reports/r1.pdf"

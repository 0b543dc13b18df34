"""github_ingestion under faults: ingest_hour and update_silver in a child process, killed (SIGKILL
by pid) with the hour's multipart upload open (every part sent, not completed) or mid-MERGE (the
Silver data files written, not committed); then retried as Airflow retries the task, and the rest
of the run (and github_gold for the hour's day) run on.

After each, read from S3 and the Iceberg tables themselves: one Bronze object for the hour holding
the generator's events, no open multipart upload, Silver holding each event id once, no Silver data
file that no snapshot references, and Gold's daily counts summing to the generator's record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import github_task
import pytest
from harness import start_child
from iceberg_leftovers import leftovers

from archiveflow import resources
from archiveflow.github_lakehouse.bronze import GhHour, partition_prefix
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.integration
TASK = str(Path(github_task.__file__))
EVENTS = 6000  # ~8 MiB of Bronze: two parts of the upload


class Hour:
    """One generated GH Archive hour on a day of its own, and what to check after its run."""

    def __init__(self, local_stack, gharchive_dir: Path):
        import random

        rng = random.SystemRandom()
        self.day = f"{rng.randint(2012, 2014)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        self.hour = GhHour.parse(f"{self.day}-7")
        generate_hour(gharchive_dir, self.hour, events=EVENTS)
        self.record = read_record(gharchive_dir)[self.hour.name]
        self.s3 = local_stack.client("s3")
        self.bucket = resources.bucket("lakehouse")
        from archiveflow.operators.github_lakehouse import RegisterBronzeTableOperator

        RegisterBronzeTableOperator(task_id="register_bronze_table").execute({"run_id": "faults"})

    def start(self, step: str, run_id: str, failpoint: str | None = None):
        return start_child([TASK, step, self.hour.name, run_id], failpoint=failpoint)

    def run(self, step: str, run_id: str):
        task = self.start(step, run_id)
        assert task.finish() == 0, task.output[-3000:]
        return task.result()

    def open_uploads(self) -> list[str]:
        return [u["Key"] for u in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
                if u["Key"].startswith(partition_prefix(self.day))]

    def bronze_keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=partition_prefix(self.day)).get("Contents", [])
        return [o["Key"] for o in listed]

    def check(self, catalog) -> str:
        """One Bronze object, Silver once per event, no leftovers, Gold = the generator's record."""
        from airflow.dag_processing.dagbag import DagBag
        from pyiceberg.expressions import EqualTo

        assert self.bronze_keys() == [self.hour.bronze_key]
        body = self.s3.get_object(Bucket=self.bucket, Key=self.hour.bronze_key)["Body"].read()
        bronze_ids = [json.loads(line)["id"] for line in gzip.decompress(body).splitlines()]
        assert len(bronze_ids) == self.record["events"] == len(set(bronze_ids))
        assert self.open_uploads() == []
        database = resources.glue_database("lakehouse")
        silver = catalog.load_table(f"{database}.github_events_silver")
        ids = silver.scan(row_filter=EqualTo("ingest_dt", self.day), selected_fields=("id",)).to_arrow()["id"]
        assert sorted(ids.to_pylist()) == sorted(bronze_ids), "Silver is not the hour's events once each"
        left = leftovers(silver)
        assert left == {"open_uploads": [], "unreferenced_files": []}, left
        bag = DagBag(dag_folder=str(Path(github_task.__file__).parents[2] / "dags" / "github_gold.py"))
        assert bag.dags["github_gold"].test(run_conf={"days": [self.day]}).state == "success"
        daily = catalog.load_table(f"{database}.github_events_gold_daily").scan(
            row_filter=EqualTo("ingest_dt", self.day), selected_fields=("events_count",)).to_arrow()
        assert sum(daily["events_count"].to_pylist()) == self.record["events"]
        return (f"1 Bronze object of {len(bronze_ids)} events, 0 uploads; Silver {len(ids)} ids once, 0 stray "
                f"files; Gold daily sum {self.record['events']} = generator")


@pytest.fixture
def hour(local_stack, github_sources, airflow_db):
    return Hour(local_stack, github_sources)


def test_kill_mid_upload_of_the_bronze_object(hour, catalog, fault_table):
    task = hour.start("ingest", "run-1", failpoint="github_ingestion.parts_uploaded")
    task.wait_for("failpoint github_ingestion.parts_uploaded reached")
    assert task.kill() < 0
    assert hour.open_uploads() == [hour.hour.bronze_key] and hour.bronze_keys() == []
    hour.run("ingest", "run-1")
    hour.run("silver", "run-1")
    fault_table("SIGKILL", "github_ingestion: ingest_hour, every part sent, upload not completed",
                "retry aborted the killed upload, wrote the hour once", hour.check(catalog))


def test_kill_mid_merge_into_silver(hour, catalog, fault_table):
    hour.run("ingest", "run-1")
    task = hour.start("silver", "run-1", failpoint="lakehouse.merge_files_written")
    task.wait_for("failpoint lakehouse.merge_files_written reached")
    assert task.kill() < 0
    result = hour.run("silver", "run-1")
    assert result[-1]["rows_written"] == hour.record["events"], result
    fault_table("SIGKILL", "github_ingestion: update_silver mid MERGE (data files written, not committed)",
                "retry merged the hour once", hour.check(catalog))

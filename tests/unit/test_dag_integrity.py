"""Every DAG file loads without import errors and follows the project's conventions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dag_folder_has_dags():
    assert DAG_FILES, "no DAG files found"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_each_file_defines_a_dag(dagbag):
    files_with_dags = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files_with_dags == {p.name for p in DAG_FILES}


def test_dag_conventions(dagbag):
    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not (dag.doc_md or "").strip():
            problems.append(f"{dag_id}: no doc_md")
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                problems.append(f"{dag_id}.{task.task_id}: owner not set")
            if (task.retries or 0) < 2:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries} < 2")
    assert problems == []


def import_in_probe(dag_file: Path) -> subprocess.CompletedProcess:
    """Import one DAG file in a fresh interpreter whose sockets refuse to connect; print the CPU
    seconds it took (CPU, not wall time: other work on a busy machine must not fail the test)."""
    # Provider and SDK imports are shared by all DAG files and cached by the dag processor,
    # so they are warmed first; what is timed is the DAG file itself.
    probe = textwrap.dedent(f"""
        import importlib.util, socket, sys, time
        sys.path.insert(0, {str(DAGS_FOLDER.parent / "plugins")!r})
        import airflow.sdk, airflow.providers.amazon.aws.hooks.base_aws  # noqa: warm shared imports
        def refuse(*args, **kwargs):
            raise RuntimeError(f"network I/O at parse time: {{args}}")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        spec = importlib.util.spec_from_file_location("dag_under_test", {str(dag_file)!r})
        started = time.process_time()
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print(time.process_time() - started)
    """)
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_fast_without_network(dag_file):
    """Parsing happens every few seconds on the scheduler: no sockets, < 0.5 s of its own."""
    result = import_in_probe(dag_file)
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = float(result.stdout.strip().splitlines()[-1])
    assert seconds < 0.5, f"{dag_file.name} took {seconds:.2f} CPU seconds to import"


def test_probe_catches_network_io_at_parse_time(tmp_path):
    """The import test above would be worthless if its socket guard let connections through."""
    bad_dag = tmp_path / "bad_dag.py"
    bad_dag.write_text("import boto3\nboto3.client('s3', region_name='us-east-1').list_buckets()\n")
    result = import_in_probe(bad_dag)
    assert result.returncode != 0
    assert "network I/O at parse time" in result.stderr


def test_the_retry_delay_is_the_dags_own_unless_the_test_stack_shortens_it(monkeypatch):
    from datetime import timedelta

    from archiveflow.dag_builder import archiveflow_dag
    from archiveflow.failpoints import RETRY_DELAY_VARIABLE

    def delay() -> timedelta:
        dag = archiveflow_dag("retry_delay_probe", {}, "doc", description="probe", tags=[],
                              retry_delay=timedelta(minutes=2))
        return dag.default_args["retry_delay"]

    monkeypatch.delenv(RETRY_DELAY_VARIABLE, raising=False)
    assert delay() == timedelta(minutes=2)
    monkeypatch.setenv(RETRY_DELAY_VARIABLE, "2")  # devstack.stack.test_airflow_settings, the test stack only
    assert delay() == timedelta(seconds=2)

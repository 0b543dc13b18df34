"""The REST client against MWAA's InvokeRestApi (botocore Stubber: the emulator has no MWAA), and
its example confs (the seeds' payloads) accepted by the DAGs' request modules."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from deploy.constraints import REPO
from deploy.trigger import MwaaTransport, main, wait

CONFS = REPO / "deploy" / "confs"


def mwaa_stub():
    client = boto3.client("mwaa", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def answer(stub, method, path, response, body=None, status=200):
    expected = {"Name": "prod-env", "Path": path, "Method": method}
    if body is not None:
        expected["Body"] = body
    stub.add_response("invoke_rest_api", {"RestApiStatusCode": status, "RestApiResponse": response}, expected)


def test_trigger_and_wait_through_invoke_rest_api(tmp_path, capsys):
    conf = tmp_path / "conf.json"
    conf.write_text('{"aws_conn_id": "aws_default"}')
    client, stub = mwaa_stub()
    run = "/dags/archiveflow_stack_check/dagRuns/manual__1"
    answer(stub, "POST", "/dags/archiveflow_stack_check/dagRuns", {"dag_run_id": "manual__1", "state": "queued"},
           body={"logical_date": None, "conf": {"aws_conn_id": "aws_default"}})
    answer(stub, "GET", run, {"state": "running"})
    answer(stub, "GET", f"{run}/taskInstances", {"task_instances": [
        {"task_id": "check_s3", "map_index": -1, "state": "running"}]})
    answer(stub, "GET", run, {"state": "failed"})
    answer(stub, "GET", f"{run}/taskInstances", {"task_instances": [
        {"task_id": "check_s3", "map_index": -1, "state": "failed"}]})
    with stub:
        code = main(["archiveflow_stack_check", "--conf", str(conf), "--wait", "--poll", "0"],
                    transport=MwaaTransport("prod-env", client))
        stub.assert_no_pending_responses()
    assert code == 1  # the run's outcome
    assert capsys.readouterr().out.splitlines() == [
        "run_id: manual__1", "task check_s3: running", "task check_s3: failed", "outcome: failed"]


def test_a_refused_conf_exits_2_with_airflows_reason(capsys):
    client, stub = mwaa_stub()
    refusal = {"detail": "Invalid input for param aws_conn_id: '' is too short"}
    stub.add_client_error("invoke_rest_api", service_error_code="RestApiClientException", http_status_code=400,
                          service_message="bad request",
                          response_meta={}, modeled_fields={"RestApiStatusCode": 400, "RestApiResponse": refusal})
    with stub:
        code = main(["archiveflow_stack_check"], transport=MwaaTransport("prod-env", client))
    assert code == 2
    err = capsys.readouterr().err
    assert "HTTP 400" in err and "aws_conn_id" in err


def test_a_poll_without_answer_is_asked_again(capsys):
    """A busy API server (a read timeout) must not end the wait: the run goes on regardless."""
    from deploy.trigger import Unreachable

    answers = iter([Unreachable("GET /dags/d/dagRuns/r: timed out"), {"state": "success"},
                    {"task_instances": [{"task_id": "t", "map_index": -1, "state": "success"}]}])

    class Flaky:
        def call(self, method, path, body=None):
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

    assert wait(Flaky(), "d", "r", 0, 10) == "success"
    captured = capsys.readouterr()
    assert captured.out == "task t: success\n" and "timed out" in captured.err


def test_mapped_tasks_are_shown_with_their_index():
    class Fake:
        def call(self, method, path, body=None):
            if path.endswith("taskInstances"):
                return {"task_instances": [{"task_id": "archive_table", "map_index": 2, "state": None}]}
            return {"state": "success"}

    out = io.StringIO()
    assert wait(Fake(), "rdbms_archival", "r1", 0, 10, out) == "success"
    assert out.getvalue() == "task archive_table[2]: none\n"


def test_example_confs_are_the_seeds_payloads_and_accepted():
    from archiveflow.deep_archive.request import parse_request as parse_archive
    from archiveflow.rdbms_archival.request import parse_request as parse_archival
    from archiveflow.restore.request import parse_request as parse_restore
    from devstack.seed_rdbms_demo import DEMO_CONF

    assert sorted(p.name for p in CONFS.glob("*.json")) == ["rdbms_archival.json", "s3_deep_archive.json",
                                                             "s3_restore.json"]
    confs = {p.stem: json.loads(p.read_text()) for p in CONFS.glob("*.json")}
    assert confs["rdbms_archival"] == DEMO_CONF
    assert parse_archival(confs["rdbms_archival"])
    assert parse_archive(confs["s3_deep_archive"], "archiveflow-archive")
    assert parse_restore(confs["s3_restore"], restore_bucket="archiveflow-restore", archive_bucket="archiveflow-archive")


def test_help_needs_no_airflow(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "--mwaa-environment" in capsys.readouterr().out

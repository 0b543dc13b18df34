"""Trigger an archiveflow DAG over Airflow's REST API, for the systems that called the seeds'
API Gateway endpoints (`/archive`, `/restore`, the archival POST). Needs no Airflow install:

    python -m deploy.trigger rdbms_archival --conf deploy/confs/rdbms_archival.json --wait
        --url http://127.0.0.1:8080 [--username admin --password admin]   # token auth (local stack)
        --mwaa-environment NAME [--region us-east-1]                       # MWAA, through boto3

Prints the run id, each task's state as it changes and the outcome. Exit code: 0 when the run is
triggered (or, with --wait, succeeded); 1 when the waited run failed; 2 when Airflow refused the
request (a conf breaking a Param schema is refused before any run exists, naming the field); 3 when
Airflow could not be reached (the trigger is never sent twice: a waited run's polls are repeated).

On MWAA it calls `mwaa.invoke_rest_api` (IAM `airflow:InvokeRestApi` on
`arn:aws:airflow:<region>:<account>:role/<environment>/<Op|User|Admin>`; each call times out
after 10 s on MWAA's side, so --wait polls with short calls). Standard library plus `requests`
(token auth) or `boto3` (MWAA): copy this one file to a calling system if you like.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Protocol

TERMINAL_STATES = {"success", "failed"}


class AirflowRefused(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"Airflow answered HTTP {status}: {json.dumps(body) if not isinstance(body, str) else body}")
        self.status = status


class Unreachable(Exception):
    """No answer (timeout, connection refused) or a server error: worth asking again."""


class Transport(Protocol):
    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        """`path` is relative to /api/v2; returns the JSON answer, raises AirflowRefused (4xx) or
        Unreachable (no answer, 5xx)."""


class TokenTransport:
    """Airflow's own API server: a JWT from /auth/token (the simple auth manager locally)."""

    def __init__(self, base_url: str, username: str, password: str):
        import requests

        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        response = self.session.post(f"{self.base_url}/auth/token", json={"username": username, "password": password},
                                     timeout=30)
        if response.status_code >= 400:
            raise AirflowRefused(response.status_code, response.text)
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        import requests

        try:
            response = self.session.request(method, f"{self.base_url}/api/v2{path}", json=body, timeout=30)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise Unreachable(f"{method} {path}: {error}") from error
        if response.status_code >= 500:
            raise Unreachable(f"{method} {path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise AirflowRefused(response.status_code, _json_or_text(response))
        return response.json()


class MwaaTransport:
    """An MWAA environment's Airflow REST API through `mwaa.invoke_rest_api` (IAM, no token)."""

    def __init__(self, environment: str, client=None, region: str | None = None):
        if client is None:
            import boto3

            client = boto3.client("mwaa", region_name=region)
        self.environment = environment
        self.client = client

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

        kwargs: dict[str, Any] = {"Name": self.environment, "Path": path, "Method": method}
        if body is not None:
            kwargs["Body"] = body
        try:
            return self.client.invoke_rest_api(**kwargs)["RestApiResponse"]
        except (ConnectionError, ReadTimeoutError) as error:
            raise Unreachable(f"{method} {path}: {error}") from error
        except ClientError as error:  # RestApiClientException / RestApiServerException carry Airflow's answer
            status = error.response.get("RestApiStatusCode")
            if status is not None and status < 500:
                raise AirflowRefused(status, error.response.get("RestApiResponse")) from None
            raise Unreachable(f"{method} {path}: {error}") from error


def _json_or_text(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def trigger(transport: Transport, dag_id: str, conf: dict, run_id: str | None = None) -> dict:
    body: dict[str, Any] = {"logical_date": None, "conf": conf}
    if run_id:
        body["dag_run_id"] = run_id
    return transport.call("POST", f"/dags/{dag_id}/dagRuns", body)


def task_states(transport: Transport, dag_id: str, run_id: str) -> dict[str, str]:
    answer = transport.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    return {(ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"):
            ti["state"] or "none" for ti in answer["task_instances"]}


def wait(transport: Transport, dag_id: str, run_id: str, poll_seconds: float, timeout: float, out=None) -> str:
    """Poll until the run ends; print each task's state when it changes; return the run's state.
    A poll that gets no answer is repeated (the run goes on without us) until `timeout`."""
    out = out or sys.stdout
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    state = "unknown"
    while True:
        try:
            state = transport.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            tasks = task_states(transport, dag_id, run_id)
        except Unreachable as error:
            print(f"no answer, asking again: {error}", file=sys.stderr, flush=True)
            state, tasks = "unknown", {}
        for task, task_state in sorted(tasks.items()):
            if shown.get(task) != task_state:
                print(f"task {task}: {task_state}", file=out, flush=True)
                shown[task] = task_state
        if state in TERMINAL_STATES:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {dag_id}/{run_id} still {state} after {timeout:.0f} s")
        time.sleep(poll_seconds)


def _transport(args) -> Transport:
    if args.mwaa_environment:
        return MwaaTransport(args.mwaa_environment, region=args.region)
    return TokenTransport(args.url, args.username, args.password)


def main(argv: list[str] | None = None, transport: Transport | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.trigger", description=__doc__.split("\n\n")[0])
    parser.add_argument("dag_id")
    parser.add_argument("--conf", help="a JSON file with the run's conf (e.g. deploy/confs/*.json)")
    parser.add_argument("--run-id", help="default: Airflow names the run")
    parser.add_argument("--wait", action="store_true", help="wait for the run to end; exit code = its outcome")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds --wait waits at most")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between state checks")
    parser.add_argument("--url", default=os.environ.get("ARCHIVEFLOW_API_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--username", default=os.environ.get("ARCHIVEFLOW_API_USERNAME", "admin"))
    parser.add_argument("--password", default=os.environ.get("ARCHIVEFLOW_API_PASSWORD", "admin"))
    parser.add_argument("--mwaa-environment", default=os.environ.get("ARCHIVEFLOW_MWAA_ENVIRONMENT"),
                        help="an MWAA environment's name: call it through mwaa.invoke_rest_api")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    args = parser.parse_args(argv)
    conf = {}
    if args.conf:
        with open(args.conf) as file:
            conf = json.load(file)
    try:
        transport = transport or _transport(args)
        run = trigger(transport, args.dag_id, conf, args.run_id)
        print(f"run_id: {run['dag_run_id']}", flush=True)
        if not args.wait:
            print(f"state: {run['state']}")
            return 0
        outcome = wait(transport, args.dag_id, run["dag_run_id"], args.poll, args.timeout)
    except AirflowRefused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 2
    except (Unreachable, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(f"outcome: {outcome}")
    return 0 if outcome == "success" else 1


if __name__ == "__main__":
    sys.exit(main())

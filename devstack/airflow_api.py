"""A small client for Airflow 3's public REST API: token, trigger, wait. Used by `make demo`
and the end-to-end tests; works the same against MWAA's web server URL with a token."""

from __future__ import annotations

import time

import requests

TERMINAL_STATES = {"success", "failed"}


class AirflowApi:
    def __init__(self, base_url: str, username: str = "admin", password: str = "admin"):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self._token(username, password)}"

    def _token(self, username: str, password: str, timeout: float = 180) -> str:
        """The API server's first token can take over 30 s on a loaded machine (it answers health
        checks before its auth manager has warmed up): ask again until `timeout`, then fail."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = requests.post(f"{self.base_url}/auth/token",
                                         json={"username": username, "password": password}, timeout=60)
                break
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        response.raise_for_status()
        return response.json()["access_token"]

    def get(self, path: str, **params) -> dict:
        response = self.session.get(f"{self.base_url}/api/v2{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None) -> requests.Response:
        """POST a dag run; returns the raw response so callers can check refusals (HTTP 400)."""
        body: dict = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.session.post(f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=30)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Wait until the dag processor has parsed `dag_id` (and it has no import error)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}", timeout=30)
            except requests.Timeout:  # a fresh api-server on a loaded machine: ask again
                response = None
            if response is not None and response.status_code == 200:
                return response.json()
            if time.monotonic() > deadline:
                errors = self.get("/importErrors").get("import_errors", [])
                raise TimeoutError(f"DAG {dag_id} not parsed within {timeout:.0f}s; import errors: {errors}")
            time.sleep(1)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {dag_id}/{run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(1)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        response = self.session.get(
            f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": "true"}, timeout=30,
        )
        response.raise_for_status()
        return "\n".join(_log_line_text(line) for line in response.json()["content"])


def _log_line_text(line: dict | str) -> str:
    """A structured log line as text: its event, plus the exceptions it carries."""
    if not isinstance(line, dict):
        return str(line)
    errors = [f"{e.get('exc_type')}: {e.get('exc_value')}" for e in line.get("error_detail") or []]
    return "\n".join([line.get("event", ""), *errors])

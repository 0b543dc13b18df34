"""DynamoDB tables with streams on the emulator, the DAGs, and readers of what a run left behind."""

from __future__ import annotations

import http.client
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

DAGS = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture
def dags():
    """Parsed for each test: dag.test() merges a run's conf into the DAG object's params, so a
    module-wide DAG would hand one test's `tables` to the next test's run without conf."""
    from airflow.dag_processing.dagbag import DagBag

    bags = [DagBag(dag_folder=str(DAGS / f"{name}.py"))
            for name in ("dynamodb_delete_archive", "dynamodb_restore_items", "dynamodb_dead_letter_redrive")]
    assert all(bag.import_errors == {} for bag in bags)
    return {dag_id: dag for bag in bags for dag_id, dag in bag.dags.items()}


@pytest.fixture
def new_table(local_stack):
    """Create tables with a stream (dropped afterwards): new_table({"tenant": "S", "order_no": "N"})."""
    client = local_stack.client("dynamodb")
    created = []

    def create(key: dict[str, str], view_type: str = "NEW_AND_OLD_IMAGES") -> str:
        name = f"it-ddb-{uuid.uuid4().hex[:8]}"
        kinds = ["HASH", "RANGE"]
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": kinds[i]} for i, n in enumerate(key)],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in key.items()],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
        created.append(name)
        return name

    yield create
    for name in created:
        client.delete_table(TableName=name)




class S3WriteOutage(ThreadingHTTPServer):
    """A pass-through proxy in front of the emulator's S3. Between `fail_writes(prefix)` and
    `restore()`, every PUT under `prefix` is answered 503 ServiceUnavailable, as S3 answers when it
    is unavailable (`refused` counts them). Reads pass through."""

    daemon_threads = True

    def __init__(self, upstream: str):
        super().__init__(("127.0.0.1", 0), _OutageHandler)
        self.upstream = urlsplit(upstream)
        self.prefix: str | None = None
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail_writes(self, prefix: str) -> None:
        self.prefix = prefix

    def restore(self) -> None:
        self.prefix = None

    def failing(self, method: str, path: str) -> bool:
        return method == "PUT" and self.prefix is not None and self.prefix in unquote(path)


class _OutageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: S3WriteOutage

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.server.failing(self.command, self.path):
            self.server.refused += 1
            error = b"<Error><Code>ServiceUnavailable</Code><Message>outage (test)</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        upstream = http.client.HTTPConnection(self.server.upstream.hostname, self.server.upstream.port, timeout=60)
        upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", response.getheader("Content-Length") if self.command == "HEAD"
                         else str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


@pytest.fixture
def s3_outage(local_stack, monkeypatch):
    """The aws_default connection with S3 behind an S3WriteOutage proxy (other services direct)."""
    proxy = S3WriteOutage(local_stack.aws_endpoint)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["extra"]["service_config"] = {**connection["extra"].get("service_config", {}),
                                             "s3": {"endpoint_url": proxy.url}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    yield proxy
    proxy.shutdown()
    proxy.server_close()

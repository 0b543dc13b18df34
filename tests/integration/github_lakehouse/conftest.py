"""GH Archive and Events API sources for the github_lakehouse tests: the stack's own
`python -m http.server` over generated hours, a faulty server, an Events API fake per test module."""

from __future__ import annotations

import gzip
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from tests.integration.github_lakehouse.lakehouse_tables import unique_day

from archiveflow import resources


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_conn_env(name: str, port: int) -> dict[str, str]:
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    return {f"AIRFLOW_CONN_{name.upper()}": json.dumps(conn)}


class Lake:
    def __init__(self, local_stack):
        self.config = local_stack.config
        self.dir = local_stack.config.gharchive_dir
        self.s3 = local_stack.client("s3")
        self.glue = local_stack.client("glue")
        self.runs = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
        self.bucket = resources.bucket("lakehouse")

    unique_day = staticmethod(unique_day)

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def lines(self, key: str) -> list[dict]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return [json.loads(line) for line in gzip.decompress(body).splitlines()]

    def open_uploads(self, key: str) -> list:
        return [u for u in self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", [])
                if u["Key"] == key]


@pytest.fixture(scope="session")
def lake(local_stack, github_sources):
    return Lake(local_stack)


class FaultyHandler(BaseHTTPRequestHandler):
    """Serves what `faults[path]` says: {"status": 500} or {"body": bytes, "cut_to": n} (a body
    shorter than its Content-Length: the connection drops mid-transfer)."""

    faults: dict[str, dict] = {}

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _answer(self, with_body: bool) -> None:
        fault = self.faults.get(self.path, {"status": 404})
        body = fault.get("body", b"")
        self.send_response(fault.get("status", 200))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body[: fault.get("cut_to", len(body))])
            self.wfile.flush()
            self.close_connection = True

    def do_HEAD(self):  # noqa: N802
        self._answer(False)

    def do_GET(self):  # noqa: N802
        self._answer(True)


@pytest.fixture(scope="session")
def faulty_source(local_stack):
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), FaultyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(http_conn_env("gharchive_faulty", port))
    yield SimpleNamespace(conn_id="gharchive_faulty", faults=FaultyHandler.faults)
    server.shutdown()


@pytest.fixture(scope="module")
def events_api(local_stack):
    """An Events API fake of its own (the stack's one is polled by the scheduled DAG)."""
    import requests

    from devstack.github_events_api import serve

    port = free_port()
    server = serve(port, events_per_minute=0, first_id=41_000_000_000 + port * 100_000)  # ids no other feed uses
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn_id = f"github_events_api_t{port}"
    os.environ.update(http_conn_env(conn_id, port))
    base = f"http://127.0.0.1:{port}"
    yield SimpleNamespace(
        conn_id=conn_id,
        publish=lambda n: requests.post(f"{base}/_control/publish", json={"count": n}, timeout=10).json(),
        rate_limit=lambda remaining, reset_in: requests.post(
            f"{base}/_control/rate_limit", json={"remaining": remaining, "reset_in": reset_in}, timeout=10),
        published=lambda: requests.get(f"{base}/_control/published", timeout=10).json(),
    )
    server.shutdown()

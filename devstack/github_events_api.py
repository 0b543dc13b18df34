"""A small fake of the GitHub Events API (`GET /events`) for the local stack and the tests: the
headers a poller must honour, with GitHub's semantics.

- the newest 300 events, newest first, `per_page` (max 100) and `page`, `Link: <…>; rel="next"`;
- `ETag` on every 200; `If-None-Match` with the current ETag → 304 (not counted by the rate limit);
- `X-RateLimit-Limit/Remaining/Reset/Used`; when exhausted, 403 `API rate limit exceeded` until
  the reset (epoch seconds), then the limit refills;
- new events appear over time (`--events-per-minute`) or on demand.

Control endpoints (tests): `POST /_control/publish {"count": n}` → the new ids;
`POST /_control/rate_limit {"remaining": 0, "reset_in": 3}`; `POST /_control/config
{"events_per_minute": 0}`; `GET /_control/published` → every id ever published, oldest first.

    python -m devstack.github_events_api --port 5066
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from archiveflow.github_lakehouse.bronze import GhHour
from devstack.gharchive import make_event

WINDOW = 300
RATE_LIMIT = 60


class FeedState:
    def __init__(self, events_per_minute: float, seed: int = 7, first_id: int = 40_000_000_000):
        self.lock = threading.Lock()
        self.first_id = first_id
        self.events: list[dict] = []            # oldest first
        self.events_per_minute = events_per_minute
        self.seed, self.next_index, self.last_tick = seed, 0, time.time()
        self.remaining, self.reset_at = RATE_LIMIT, time.time() + 3600

    def publish(self, count: int) -> list[str]:
        hour = GhHour.of(dt.datetime.now(dt.UTC))
        new = []
        for _ in range(count):
            event = make_event(self.seed, hour, self.next_index)
            event["id"] = str(self.first_id + self.next_index)  # ids grow, as GitHub's do
            self.next_index += 1
            new.append(event)
        self.events += new
        return [e["id"] for e in new]

    def tick(self) -> None:
        due = int((time.time() - self.last_tick) * self.events_per_minute / 60)
        if due:
            self.publish(due)
            self.last_tick = time.time()

    def etag(self) -> str:
        newest = self.events[-1]["id"] if self.events else "empty"
        return f'W/"{hashlib.sha1(newest.encode()).hexdigest()}"'

    def rate_headers(self) -> dict[str, str]:
        if time.time() >= self.reset_at:
            self.remaining, self.reset_at = RATE_LIMIT, time.time() + 3600
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(int(self.reset_at)), "X-RateLimit-Used": str(RATE_LIMIT - self.remaining),
                "X-RateLimit-Resource": "core"}


class Handler(BaseHTTPRequestHandler):
    state: FeedState

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        state = self.state
        with state.lock:
            if url.path == "/_control/published":
                return self._send(200, [e["id"] for e in state.events])
            if url.path != "/events":
                return self._send(404, {"message": "Not Found"})
            state.tick()
            return self._events(parse_qs(url.query))

    def _events(self, query: dict) -> None:
        state = self.state
        headers = state.rate_headers()
        if self.headers.get("If-None-Match") == state.etag():
            return self._send(304, None, {**headers, "ETag": state.etag()})
        if state.remaining <= 0:
            return self._send(403, {"message": "API rate limit exceeded"}, headers)
        state.remaining -= 1
        headers = state.rate_headers()
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        window = list(reversed(state.events[-WINDOW:]))
        body = window[(page - 1) * per_page: page * per_page]
        if page * per_page < len(window):
            host = self.headers.get("Host")
            headers["Link"] = f'<http://{host}/events?per_page={per_page}&page={page + 1}>; rel="next"'
        self._send(200, body, {**headers, "ETag": state.etag(), "X-Poll-Interval": "60"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        state = self.state
        with state.lock:
            if self.path == "/_control/publish":
                return self._send(200, state.publish(int(body.get("count", 1))))
            if self.path == "/_control/rate_limit":
                state.remaining = int(body.get("remaining", RATE_LIMIT))
                state.reset_at = time.time() + float(body.get("reset_in", 3600))
                return self._send(200, state.rate_headers())
            if self.path == "/_control/config":
                state.events_per_minute = float(body.get("events_per_minute", state.events_per_minute))
                state.last_tick = time.time()
                return self._send(200, {"events_per_minute": state.events_per_minute})
        return self._send(404, {"message": "Not Found"})


def serve(port: int, events_per_minute: float = 20, host: str = "127.0.0.1",
          first_id: int = 40_000_000_000) -> ThreadingHTTPServer:
    """`first_id`: the first event id published (servers sharing one Silver table need their own)."""
    handler = type("FeedHandler", (Handler,), {"state": FeedState(events_per_minute, first_id=first_id)})
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.github_events_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container (docker-compose.yaml)")
    parser.add_argument("--events-per-minute", type=float, default=20)
    args = parser.parse_args(argv)
    serve(args.port, args.events_per_minute, args.host).serve_forever()


if __name__ == "__main__":
    main()

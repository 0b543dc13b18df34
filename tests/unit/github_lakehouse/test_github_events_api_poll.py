"""One Events API poll against a scripted fetch: ETag, pagination, watermark, rate limits."""

from __future__ import annotations

import json

import pytest

from archiveflow.errors import BadRequest, TransientServiceError
from archiveflow.github_lakehouse.events_api import (
    ApiResponse,
    PollState,
    next_link,
    poll,
    rate_limited_until,
    relative_endpoint,
)


def event(i: int) -> dict:
    return {"id": str(i), "type": "WatchEvent", "created_at": "2024-01-01T00:00:00Z",
            "actor": {"id": 1, "login": "a"}, "repo": {"id": 2, "name": "a/b"}, "payload": {}}


class Script:
    """Answers in order; records the requests."""

    def __init__(self, *responses: ApiResponse):
        self.responses, self.requests = list(responses), []

    def __call__(self, endpoint, headers):
        self.requests.append((endpoint, dict(headers)))
        return self.responses.pop(0)


def page(ids, next_url=None, etag='"e1"', remaining="50"):
    headers = {"ETag": etag, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": "2000"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next", <https://x/events?page=9>; rel="last"'
    return ApiResponse(200, headers, json.dumps([event(i) for i in ids]).encode())


def test_follows_pages_until_it_reaches_events_already_ingested():
    fetch = Script(page([30, 29, 28], "https://api/events?page=2"), page([27, 26, 25], "https://api/events?page=3"))
    result = poll(fetch, PollState('"old"', watermark=26), now=1000, per_page=3)
    assert [r["id"] for r in result.rows] == ["30", "29", "28", "27"]
    assert (result.outcome, result.etag, result.watermark, result.pages) == ("new", '"e1"', 30, 2)
    assert fetch.requests[0] == ("events?per_page=3", fetch.requests[0][1])
    assert fetch.requests[0][1]["If-None-Match"] == '"old"' and "If-None-Match" not in fetch.requests[1][1]
    assert fetch.requests[1][0] == "https://api/events?page=2"


def test_an_event_shifted_onto_the_next_page_is_kept_once():
    fetch = Script(page([30, 29], "n"), page([29, 28]))
    assert [r["id"] for r in poll(fetch, PollState(), now=0, per_page=2).rows] == ["30", "29", "28"]


def test_not_modified_keeps_the_state():
    result = poll(Script(ApiResponse(304, {"X-RateLimit-Remaining": "50"}, b"")), PollState('"e"', 5), now=0)
    assert (result.outcome, result.rows, result.etag, result.watermark) == ("not_modified", [], '"e"', 5)


def test_exhausted_rate_limit_asks_to_wait_until_the_reset():
    limited = ApiResponse(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1500"}, b"{}")
    result = poll(Script(limited), PollState(None, 0), now=1000)
    assert (result.outcome, result.retry_at) == ("rate_limited", 1501)
    # half-way through the pages: start again after the reset rather than leave a gap
    result = poll(Script(page([9, 8], "n", remaining="0")), PollState(None, 0), now=1000, per_page=2)
    assert result.outcome == "rate_limited" and result.rows == [] and result.watermark == 0
    assert rate_limited_until(ApiResponse(429, {"Retry-After": "30"}, b""), now=10) == 40


def test_errors():
    with pytest.raises(BadRequest, match="http_conn_id"):
        poll(Script(ApiResponse(401, {}, b"Bad credentials")), PollState(), now=0)
    with pytest.raises(TransientServiceError, match="HTTP 502"):
        poll(Script(ApiResponse(502, {}, b"")), PollState(), now=0)


def test_link_parsing():
    header = '<https://api.github.com/events?page=2>; rel="next", <https://api.github.com/events?page=10>; rel="last"'
    assert next_link(header) == "https://api.github.com/events?page=2"
    assert next_link('<https://api.github.com/events?page=1>; rel="prev"') is None
    assert relative_endpoint("https://ghe.example/api/v3", "https://ghe.example/api/v3/events?page=2") == "events?page=2"
    assert relative_endpoint("http://127.0.0.1:1", "http://localhost:1/events?page=2") == "events?page=2"

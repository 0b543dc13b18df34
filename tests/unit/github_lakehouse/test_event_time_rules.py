"""One rule for `created_at`, applied by Python at Bronze and by silver_merge.sql at Silver: the same
strings accepted, each under the same UTC day. The SQL is the real statement, translated and run by
DuckDB over a Bronze table made here (no services)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json

import duckdb
import pytest

from archiveflow.github_lakehouse.bronze import MalformedEvent, bronze_line, event_day
from archiveflow.github_lakehouse.events_api import ApiResponse, PollState, poll
from archiveflow.github_lakehouse.stream import stream_to_bronze
from archiveflow.lakehouse.statements import load_statement, merge_plan
from archiveflow.operators.github_lakehouse import silver_parameters

CREATED_AT = [
    "2024-01-15T23:59:50Z", "2024-01-15T23:59:50+01:00", "2024-01-15T23:59:50-05:00", "2024-01-15T23:59:50.123Z",
    "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T00:00:00Z",
    "2024-13-01T00:00:00Z", "2024-01-15T24:00:00Z", "2024-01-15T23:60:00Z", "2024-01-15T23:59:60Z",
    "2024-01-15 23:59:50Z", "2024-01-15T23:59:50", "2024-01-15", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59Z", "t", "2024-01-15T23:59:50+25:00", "2024-01-15T23:59:50Z\n", "2024-01-15T23:59:50.1234567Z",
]
BRONZE_OBJECT = "s3://lake/github/events/ingest_dt=2024-01-16/events-api-20240116T000030Z.json.gz"


def python_day(created_at: str) -> str | None:
    try:
        return event_day(created_at)
    except MalformedEvent:
        return None


def silver_days(created_ats: list[str]) -> dict[str, str | None]:
    """What silver_merge.sql makes of each string: the row's ingest_dt, or None when it skips it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute('CREATE TABLE github_events_bronze (id VARCHAR, type VARCHAR, created_at VARCHAR, repo_id BIGINT, '
                'repo_name VARCHAR, actor_id BIGINT, actor_login VARCHAR, payload_raw VARCHAR, ingest_dt VARCHAR, '
                '"$path" VARCHAR)')
    con.execute("CREATE TABLE github_events_silver (id VARCHAR, year INTEGER, month INTEGER)")
    con.executemany("INSERT INTO github_events_bronze VALUES (?, 'PushEvent', ?, 1, 'a/b', 2, 'u', '{}', "
                    "'2024-01-16', ?)", [(str(i), text, BRONZE_OBJECT) for i, text in enumerate(created_ats)])
    plan = merge_plan(load_statement("github_lakehouse/silver_merge.sql", silver_parameters("2024-01-16", BRONZE_OBJECT)))
    rows = dict(con.execute(f"SELECT id, ingest_dt FROM ({plan.rows_sql})").fetchall())
    return {text: (rows[str(i)].isoformat() if str(i) in rows else None) for i, text in enumerate(created_ats)}


def test_bronze_and_silver_accept_the_same_created_at_under_the_same_utc_day():
    expected = {text: python_day(text) for text in CREATED_AT}
    assert expected["2024-01-15T23:59:50-05:00"] == "2024-01-16" and expected["2024-02-30T00:00:00Z"] is None
    assert silver_days(CREATED_AT) == expected


def test_lines_a_later_layer_could_not_read_are_counted_and_quoted_at_bronze_and_the_rest_lands():
    def line(event_id: str, created_at: str, repo_id: int = 1) -> bytes:
        return json.dumps({"id": event_id, "type": "PushEvent", "created_at": created_at,
                           "repo": {"id": repo_id, "name": "a/b"}, "payload": {}}).encode()

    lines = [line("1", "2024-01-15T23:59:50Z"), line("2", "2024-02-30T00:00:00Z"), line("3", "yesterday"),
             line("4", "2024-01-16T00:00:10Z", repo_id=2**63), line("5", "2024-01-15T23:59:59-05:00")]
    sink = io.BytesIO()
    stats = stream_to_bronze([gzip.compress(b"\n".join(lines))], sink)
    assert stats.written == 2 and stats.days == {"2024-01-15", "2024-01-16"}
    assert stats.malformed == {"created_at is not a real date": 1, "repo.id is not an integer of 64 bits": 1,
                               "created_at is not an ISO 8601 time like 2024-01-15T05:04:03Z": 1}
    assert [(s["line"], s["text"][:9]) for s in stats.samples] == [(2, '{"id": "2'), (3, '{"id": "3'), (4, '{"id": "4')]
    assert [json.loads(row)["id"] for row in gzip.decompress(sink.getvalue()).splitlines()] == ["1", "5"]
    with pytest.raises(MalformedEvent, match="created_at"):
        bronze_line(line("6", "2024-01-15T23:59:50"))   # no zone: its UTC day is unknown


def test_an_events_api_poll_counts_and_quotes_its_malformed_events():
    events = [{"id": "12", "type": "PushEvent", "created_at": "2024-01-15T23:59:50Z"},
              {"id": "11", "type": "PushEvent", "created_at": "2024-02-30T00:00:00Z"},
              {"id": "10", "type": "PushEvent", "created_at": "2024-01-16T00:00:10Z"}]
    result = poll(lambda endpoint, headers: ApiResponse(200, {}, json.dumps(events).encode()), PollState(), 0.0)
    assert [row["id"] for row in result.rows] == ["12", "10"] and result.malformed == 1
    assert result.malformed_samples == [{"reason": "created_at is not a real date", "text": json.dumps(events[1])}]
    assert dt.date.fromisoformat(result.rows[0]["created_at"][:10]) == dt.date(2024, 1, 15)

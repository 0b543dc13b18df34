"""The streaming core: gzip decode → line checks → Bronze rows → gzip encode, without services."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from archiveflow.github_lakehouse import stream
from archiveflow.github_lakehouse.bronze import COLUMNS, GhHour, bronze_line, events_api_key
from archiveflow.github_lakehouse.stream import CorruptSource, stream_to_bronze

EVENT = {"id": "26170148591", "type": "PushEvent", "created_at": "2023-01-01T05:00:00Z",
         "actor": {"id": 7, "login": "zoë"}, "repo": {"id": 9, "name": "a/b"},
         "payload": {"commits": [{"message": "修复 🚀 \"quoted\""}]}, "public": True}


def chunks(data: bytes, size: int = 7):
    return (data[i:i + size] for i in range(0, len(data), size))


def run(lines: list[bytes], **kwargs):
    sink = io.BytesIO()
    stats = stream_to_bronze(chunks(gzip.compress(b"\n".join(lines) + b"\n")), sink, **kwargs)
    return stats, [json.loads(line) for line in gzip.decompress(sink.getvalue()).splitlines()]


def test_events_become_the_seeds_bronze_rows_and_bad_lines_are_counted_by_reason():
    good = json.dumps(EVENT, ensure_ascii=False).encode()
    stats, rows = run([good, b"not json", b"[1]", b"", b'{"type": "X", "created_at": "t"}', b'{"id":"1","x":"\xff"}', good])
    assert stats.lines == 7 and stats.written == 2 and stats.malformed_lines == 5
    assert stats.malformed == {"not JSON": 1, "not a JSON object": 1, "blank line": 1,
                               "id missing or not a string": 1, "not UTF-8": 1}
    assert [s["line"] for s in stats.samples] == [2, 3, 4, 5, 6]
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["actor_login"] == "zoë" and rows[0]["repo_id"] == 9
    assert json.loads(rows[0]["payload_raw"]) == EVENT["payload"]


def test_concatenated_gzip_members_and_a_missing_final_newline_are_read():
    line = json.dumps(EVENT).encode()
    data = gzip.compress(line + b"\n") + gzip.compress(line)
    sink = io.BytesIO()
    stats = stream_to_bronze(chunks(data), sink)
    assert stats.written == 2 and stats.malformed_lines == 0


@pytest.mark.parametrize("body", [b"", b"\x1f\x8b\x08\x00garbage-garbage", "truncated"])
def test_incomplete_or_corrupt_gzip_is_refused(body):
    if body == "truncated":
        body = gzip.compress(json.dumps(EVENT).encode() * 100)[:-20]
    with pytest.raises(CorruptSource):
        stream_to_bronze(chunks(body), io.BytesIO())


def test_a_line_longer_than_the_limit_is_skipped_not_buffered(monkeypatch):
    monkeypatch.setattr(stream, "MAX_LINE", 1000)
    good = json.dumps(EVENT).encode()
    stats, rows = run([good, b"x" * 5000, good])
    assert stats.written == 2 and list(stats.malformed) == ["line longer than 0 MiB"]


def test_decoding_is_bounded_even_for_a_gzip_bomb():
    bomb = gzip.compress(b"\n" * (64 << 20))
    blocks = stream.gunzip([bomb], stream.IngestStats())
    assert max(len(b) for b in blocks) <= stream.MAX_DECODED_BLOCK


def test_lone_surrogates_stay_valid_utf8():
    out, day = bronze_line(b'{"id":"1","type":"T","created_at":"2024-01-15T00:00:00Z","payload":{"x":"\\ud800"}}')
    assert day == "2024-01-15" and json.loads(out.decode("utf-8"))["payload_raw"] == '{"x":"\\ud800"}'


def test_keys_are_deterministic():
    hour = GhHour.parse("2024-01-15-5")
    assert (hour.source_path, hour.bronze_key) == (
        "2024-01-15-5.json.gz", "github/events/ingest_dt=2024-01-15/gharchive-2024-01-15-05.json.gz")
    assert GhHour.parse("2024-01-15-05") == hour
    import datetime as dt
    assert events_api_key(dt.datetime(2024, 1, 15, 23, 55, tzinfo=dt.UTC)) == \
        "github/events/ingest_dt=2024-01-15/events-api-20240115T235500Z.json.gz"

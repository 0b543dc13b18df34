"""Realistic GH Archive hours for the local stack and the tests (no machine here reaches
data.gharchive.org): `<dir>/<YYYY-MM-DD-H>.json.gz`, served by plain `python -m http.server`.

Each hour holds events of every common type (GH Archive's schema: id, type, actor, repo, payload,
public, created_at, sometimes org) with unicode text, a few large payloads, a few malformed lines
(truncated JSON, not JSON, invalid UTF-8, a JSON array, an object without id, a blank line) and a
few events repeated from the previous hour, as GH Archive has them. Events are a pure function of
(seed, hour, index), so a repeat is byte-identical to its first appearance.

The generator keeps its own record of what it wrote, `<dir>/_generator_record.json`: per hour the
lines, the valid events, the malformed lines by kind and the repeated event ids. Acceptance tests
compare the pipeline's output with it.

    python -m devstack.gharchive --dir .stack/gharchive --start 2024-01-15-0 --hours 6 --events 2000
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import json
import random
from pathlib import Path

from archiveflow.github_lakehouse.bronze import GhHour

RECORD_FILE = "_generator_record.json"
EVENT_TYPES = ("PushEvent", "CreateEvent", "DeleteEvent", "ForkEvent", "WatchEvent", "IssuesEvent",
               "IssueCommentEvent", "PullRequestEvent", "PullRequestReviewEvent", "PullRequestReviewCommentEvent",
               "ReleaseEvent", "PublicEvent", "MemberEvent", "GollumEvent", "CommitCommentEvent")
WEIGHTS = (40, 10, 3, 4, 10, 5, 8, 8, 3, 3, 1, 1, 1, 1, 2)
TEXTS = ("Fix typo in README", "Ajoute la prise en charge de l'été ☀️", "修复内存泄漏", "Исправлена ошибка",
         "🚀 release v2.0 — “smart quotes” & <html> \\ back\\slash", "Merge pull request #1 from naïve/branch",
         "tab\tand\nnewline", "emoji 👩‍👩‍👧‍👦 family, ZWJ", "עברית ערבية mixed RTL", "zero\u200bwidth")
MALFORMED_KINDS = ("truncated JSON", "not JSON", "invalid UTF-8", "JSON array", "object without id", "blank line")
FIRST_ID = 30_000_000_000


def event_id(hour: GhHour, index: int) -> str:
    hours = int((hour.start - dt.datetime(2011, 2, 12, tzinfo=dt.UTC)).total_seconds() // 3600)
    return str(FIRST_ID + hours * 1_000_000 + index)


def _payload(kind: str, rng: random.Random, large_bytes: int) -> dict:
    text = rng.choice(TEXTS)
    if kind == "PushEvent":
        commits = [{"sha": f"{rng.getrandbits(160):040x}", "message": rng.choice(TEXTS),
                    "author": {"name": "Zoë Dev", "email": "zoe@example.com"}, "distinct": True}
                   for _ in range(rng.randint(1, 4))]
        payload = {"push_id": rng.getrandbits(40), "size": len(commits), "ref": "refs/heads/main", "commits": commits}
    elif kind in ("IssuesEvent", "PullRequestEvent"):
        payload = {"action": rng.choice(["opened", "closed", "reopened"]), "number": rng.randint(1, 9999),
                   "issue" if kind == "IssuesEvent" else "pull_request": {"title": text, "body": text * 3}}
    elif kind in ("IssueCommentEvent", "CommitCommentEvent", "PullRequestReviewCommentEvent"):
        payload = {"action": "created", "comment": {"id": rng.getrandbits(32), "body": text}}
    else:
        payload = {"action": "started", "ref_type": rng.choice(["branch", "tag", "repository"]), "description": text}
    if large_bytes:  # a big body (a long PR description, a generated file): hardly compressible
        payload["body_large"] = base64.b64encode(rng.randbytes(large_bytes * 3 // 4)).decode()
    return payload


def make_event(seed: int, hour: GhHour, index: int, large_bytes: int = 0) -> dict:
    rng = random.Random(f"{seed}:{hour.name}:{index}")
    kind = rng.choices(EVENT_TYPES, WEIGHTS)[0]
    actor_id, repo_id = rng.randint(1, 200_000_000), rng.randint(1, 900_000_000)
    login = rng.choice(["octocat", "zoë-dev", "dependabot[bot]", "user-", "李雷"]) + str(actor_id % 1000)
    event = {
        "id": event_id(hour, index), "type": kind,
        "actor": {"id": actor_id, "login": login, "display_login": login, "gravatar_id": "",
                  "url": f"https://api.github.com/users/{login}", "avatar_url": f"https://avatars.githubusercontent.com/u/{actor_id}?"},
        "repo": {"id": repo_id, "name": f"{login}/repo-{repo_id % 97}", "url": f"https://api.github.com/repos/{login}/repo-{repo_id % 97}"},
        "payload": _payload(kind, rng, large_bytes),
        "public": True,
        "created_at": (hour.start + dt.timedelta(seconds=index * 3600 // 100_000 % 3600)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rng.random() < 0.3:
        event["org"] = {"id": rng.randint(1, 10_000_000), "login": "acme-ørg"}
    return event


def _line(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


MALFORMED_LINES = {
    "truncated JSON": b'{"id":"1","type":"PushEvent","actor":{"id":1,"lo',
    "not JSON": b"<html><body>502 Bad Gateway</body></html>",
    "invalid UTF-8": b'{"id":"2","type":"PushEvent","created_at":"2024-01-01T00:00:00Z","x":"\xff\xfe"}',
    "JSON array": b'[{"id":"3"}]',
    "object without id": b'{"type":"PushEvent","created_at":"2024-01-01T00:00:00Z"}',
    "blank line": b"   ",
}


def generate_hour(directory: Path, hour: GhHour | str, events: int = 1000, seed: int = 14, malformed: int = 6,
                  repeats: int = 3, large: int = 2, large_bytes: int = 256 * 1024) -> dict:
    """Write one hour, streaming (memory stays small whatever its size); record and return what was written."""
    hour = GhHour.parse(hour) if isinstance(hour, str) else hour
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:{hour.name}:layout")
    previous = GhHour(hour.start - dt.timedelta(hours=1))
    repeated = [make_event(seed, previous, i) for i in range(min(repeats, events))]
    bad_at = {rng.randrange(events + 1): MALFORMED_KINDS[k % len(MALFORMED_KINDS)] for k in range(malformed)}
    large_at = set(rng.sample(range(events), min(large, events)))
    kinds: dict[str, int] = {}
    path = directory / hour.source_path
    lines = 0
    with gzip.open(path.with_suffix(".tmp"), "wb", compresslevel=6) as out:
        for index in range(events + 1):
            if index in bad_at:
                out.write(MALFORMED_LINES[bad_at[index]] + b"\n")
                kinds[bad_at[index]] = kinds.get(bad_at[index], 0) + 1
                lines += 1
            if index < events:
                out.write(_line(make_event(seed, hour, index, large_bytes if index in large_at else 0)) + b"\n")
                lines += 1
        for event in repeated:
            out.write(_line(event) + b"\n")
            lines += 1
    path.with_suffix(".tmp").rename(path)
    entry = {"file": path.name, "lines": lines, "events": events + len(repeated),
             "malformed": sum(kinds.values()), "malformed_kinds": kinds,
             "repeated_ids": [e["id"] for e in repeated], "bytes": path.stat().st_size, "seed": seed}
    record = read_record(directory)
    record[hour.name] = entry
    (directory / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
    return entry


def read_record(directory: Path) -> dict:
    path = directory / RECORD_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.gharchive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--start", required=True, help="first hour, e.g. 2024-01-15-0")
    parser.add_argument("--hours", type=int, default=1)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    first = GhHour.parse(args.start)
    for n in range(args.hours):
        hour = GhHour(first.start + dt.timedelta(hours=n))
        print(hour.name, generate_hour(args.dir, hour, args.events, args.seed))


if __name__ == "__main__":
    main()

"""One bundling rule, two planners: the Python planner's bundles are the SQL plan's, caps hold, and the
SQL plan's key ranges (its window partitions) never change them."""

from __future__ import annotations

import random
from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from archiveflow.deep_archive.bundling import alone_bytes, bundles, range_chars, sql_bundles


def _objects(seed: int, count: int, cap: int, shape: str = "flat") -> list[dict]:
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, rng.randrange(cap // 8 + 1), rng.randrange(cap // 7, cap * 2)]) for _ in range(count)]
    if shape == "flat":  # one key range (all keys share the prefix's next characters)
        keys = {f"k/{rng.randrange(10**9):09d}" for _ in range(count)}
    elif shape == "hashed":  # a range of one or two keys each: every bundle spans many
        keys = {f"k/{rng.randrange(16**8):08x}/f" for _ in range(count)}
    else:  # a few uneven folders, non-ASCII and sort-sensitive characters ('-' < '/' < 'a' < 'é')
        folders = ["k/a/", "k/a-b/", "k/ab/", "k/é/", "k/z/x/"]
        keys = {f"{rng.choice(folders)}{rng.randrange(10**rng.randrange(1, 6))}" for _ in range(count)}
    return [{"key": key, "size": size, "e_tag": f'"{n}"', "last_modified": datetime(2026, 1, 1), "reason": "new"}
            for n, (key, size) in enumerate(zip(sorted(keys), sizes, strict=False))]


def _sql_plan(rows: list[dict], file_count: int, cap: int, key_range_chars: int) -> tuple[list, dict]:
    con = duckdb.connect()
    con.register("plan_objects", pa.Table.from_pylist(rows))
    sql: dict[tuple[int, int], list[tuple[int, str]]] = {}
    alone = []
    for key, *_, position, bundle_bytes, bundle_files in sorted(sql_bundles(con, file_count, cap,
                                                                            key_range_chars).fetchall()):
        if bundle_bytes == -1:
            alone.append(("object", [key]))
        else:
            sql.setdefault((bundle_bytes, bundle_files), []).append((position, key))
    return alone, sql


@pytest.mark.parametrize(("seed", "file_count", "cap", "shape"), [
    (1, 7, 1000, "flat"), (2, 1000, 5000, "flat"), (3, 3, 10**9, "flat"), (4, 50, 800, "flat"),
    (5, 7, 1000, "hashed"), (6, 200, 20_000, "hashed"), (7, 40, 3000, "folders"), (8, 1000, 10**9, "folders"),
])
def test_the_python_planner_and_the_sql_plan_make_the_same_bundles_under_both_caps(seed, file_count, cap, shape):
    rows = _objects(seed, 2000, cap, shape)
    python = [(kind, [row["key"] for row in unit]) for kind, unit in bundles(rows, file_count, cap)]

    alone, sql = _sql_plan(rows, file_count, cap, range_chars("k/"))
    assert sorted(python) == sorted(alone + [("zip", [key for _, key in members]) for members in sql.values()])
    # A bundle is a run of consecutive positions (its manifest: the rows between its first and last).
    runs = [[position for position, _ in members] for _, members in sorted(sql.items())]
    assert [p for run in runs for p in run] == list(range(sum(map(len, runs))))

    sizes = {row["key"]: row["size"] for row in rows}
    zips = [keys for kind, keys in python if kind == "zip"]
    assert all(len(keys) <= file_count and sum(sizes[k] for k in keys) <= cap for keys in zips)
    assert all(sizes[keys[0]] > alone_bytes(cap) for kind, keys in python if kind == "object")
    assert len(zips) > 1


@pytest.mark.parametrize("shape", ["flat", "hashed", "folders"])
def test_the_sql_plans_key_ranges_never_change_its_bundles(shape):
    """From one range (0 characters) to one per key (longer than any key), the bundles are the same:
    bundles span ranges, positions run on across them."""
    rows = _objects(9, 3000, 4000, shape)
    plans = {chars: _sql_plan(rows, 30, 4000, chars) for chars in (0, 2, 3, range_chars("k/"), 9, 64)}
    ranges = {chars: len({row["key"][:chars] for row in rows}) for chars in plans}
    assert ranges[0] == 1 and ranges[64] == len(rows)
    assert ranges[range_chars("k/")] > 1 or shape == "flat"
    assert all(plan == plans[0] for plan in plans.values())
    # Some bundle holds keys of two ranges (the case a per-range numbering would get wrong).
    assert any(len({key[:range_chars("k/")] for _, key in members}) > 1 for members in plans[0][1].values())

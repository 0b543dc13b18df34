"""One bundling rule, two planners: the Python planner's bundles are the SQL plan's, caps hold."""

from __future__ import annotations

import random
from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from archiveflow.deep_archive.bundling import alone_bytes, bundles, sql_bundles


def _objects(seed: int, count: int, cap: int) -> list[dict]:
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, rng.randrange(cap // 8 + 1), rng.randrange(cap // 7, cap * 2)]) for _ in range(count)]
    keys = sorted({f"k/{rng.randrange(10**9):09d}" for _ in range(count)})
    return [{"key": key, "size": size, "e_tag": f'"{n}"', "last_modified": datetime(2026, 1, 1), "reason": "new"}
            for n, (key, size) in enumerate(zip(keys, sizes, strict=False))]


@pytest.mark.parametrize(("seed", "file_count", "cap"), [(1, 7, 1000), (2, 1000, 5000), (3, 3, 10**9), (4, 50, 800)])
def test_the_python_planner_and_the_sql_plan_make_the_same_bundles_under_both_caps(seed, file_count, cap):
    rows = _objects(seed, 2000, cap)
    python = [(kind, [row["key"] for row in unit]) for kind, unit in bundles(rows, file_count, cap)]

    con = duckdb.connect()
    con.register("plan_objects", pa.Table.from_pylist(rows))
    sql: dict[tuple[int, int], list[tuple[int, str]]] = {}
    alone = []
    for key, *_, position, bundle_bytes, bundle_files in sorted(sql_bundles(con, file_count, cap).fetchall()):
        if bundle_bytes == -1:
            alone.append(("object", [key]))
        else:
            sql.setdefault((bundle_bytes, bundle_files), []).append((position, key))
    assert sorted(python) == sorted(alone + [("zip", [key for _, key in members]) for members in sql.values()])
    # A bundle is a run of consecutive positions (its manifest: the rows between its first and last).
    runs = [[position for position, _ in members] for _, members in sorted(sql.items())]
    assert [p for run in runs for p in run] == list(range(sum(map(len, runs))))

    sizes = {row["key"]: row["size"] for row in rows}
    zips = [keys for kind, keys in python if kind == "zip"]
    assert all(len(keys) <= file_count and sum(sizes[k] for k in keys) <= cap for keys in zips)
    assert all(sizes[keys[0]] > alone_bytes(cap) for kind, keys in python if kind == "object")
    assert len(zips) > 1

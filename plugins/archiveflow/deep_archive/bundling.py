"""The bundling rule, shared by the Python planner and the SQL plan (`include/sql/deep_archive/plan_bundles.sql`).

With ``cap`` the bundle size cap and ``file_count`` the most files in a bundle:

1. an object bigger than ``cap // 8`` (the *alone* size) is archived on its own;
2. the others, in key order, each get ``bytes_before`` (the sum of the sizes of those before it)
   and ``position`` (how many come before it); the bundle of an object is the pair
   ``(bytes_before // (cap - cap // 8), position // file_count)``: a new bundle starts where the pair changes.

Both parts of the pair are running sums, so the rule needs no sequential loop: a SQL engine
computes it with window functions over any number of objects. A bundle holds at most ``file_count``
files and its objects start within one window of ``cap - cap // 8`` bytes, each at most ``cap // 8``,
so it is under ``cap``. (Today's greedy rule, "close a bundle when the next file would pass a cap",
fills bundles a little better but can only be computed one object after the other.)

The SQL plan computes the running sums in parallel (a prefix sum): the objects are split into key
ranges by their first ``range_chars(prefix)`` characters (``RANGE_CHARS`` past the source's prefix; a
fixed-length prefix, so ranges follow key order), each range's sums are computed on their own
(``PARTITION BY``: one Athena worker per range, not one for a billion rows) and offset by the totals of
the ranges before it (one row per range). The ranges change where the work is done, never the bundles:
a bundle may span ranges, and this loop needs none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

ALONE_FRACTION = 8
# A key range's length past the source's prefix: at most 36**4 (1.7M) ranges of lower-case alphanumeric
# keys, few enough for the offsets (one row per range), enough to spread the windows over workers.
RANGE_CHARS = 4
SQL = "deep_archive/plan_bundles.sql"


def alone_bytes(cap: int) -> int:
    return cap // ALONE_FRACTION


def range_chars(prefix: str) -> int:
    """How many of a key's first characters name its key range (the SQL plan's window partitions)."""
    return len(prefix) + RANGE_CHARS


def bundles(rows: Iterable[dict], file_count: int, cap: int) -> Iterator[tuple[str, list[dict]]]:
    """``("object", [row])`` for each object archived alone, ``("zip", rows)`` for each bundle, in key
    order of their first object (``rows``: dicts with ``size``, in key order)."""
    alone = alone_bytes(cap)
    window = cap - alone
    bundle: list[dict] = []
    current = None
    bytes_before = position = 0
    for row in rows:
        if row["size"] > alone:
            yield "object", [row]
            continue
        slot = (bytes_before // window, position // file_count)
        if bundle and slot != current:
            yield "zip", bundle
            bundle = []
        current = slot
        bundle.append(row)
        bytes_before += row["size"]
        position += 1
    if bundle:
        yield "zip", bundle


def sql_bundles(con, file_count: int, cap: int, key_range_chars: int):
    """The same rule run by DuckDB over the view ``plan_objects`` (key, size, e_tag, last_modified, reason):
    a result whose rows are (key, size, e_tag, last_modified, reason, position, bundle_bytes, bundle_files),
    the pair (bundle_bytes, bundle_files) naming the bundle, (-1, -1) for an object alone, in no order
    (the SQL plan runs it inside its statements: `archiveflow.deep_archive.sql_plan`); ``key_range_chars``:
    how many characters name a key range (`range_chars`)."""
    from archiveflow.lakehouse.statements import duckdb_sql, load_statement

    alone = alone_bytes(cap)
    return con.execute(duckdb_sql(load_statement(SQL, {"alone_bytes": alone, "window_bytes": cap - alone,
                                                       "file_count": file_count, "range_chars": key_range_chars})))

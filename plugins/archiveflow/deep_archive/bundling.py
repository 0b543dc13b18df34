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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

ALONE_FRACTION = 8
SQL = "deep_archive/plan_bundles.sql"


def alone_bytes(cap: int) -> int:
    return cap // ALONE_FRACTION


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


def sql_bundles(con, file_count: int, cap: int):
    """The same rule run by DuckDB over the view ``plan_objects`` (key, size, e_tag, last_modified, reason):
    a result whose rows are (key, size, e_tag, last_modified, reason, position, bundle_bytes, bundle_files),
    the pair (bundle_bytes, bundle_files) naming the bundle, (-1, -1) for an object alone, in no order
    (the SQL plan runs it inside its statements: `archiveflow.deep_archive.sql_plan`)."""
    from archiveflow.lakehouse.statements import duckdb_sql, load_statement

    alone = alone_bytes(cap)
    return con.execute(duckdb_sql(load_statement(SQL, {"alone_bytes": alone, "window_bytes": cap - alone,
                                                       "file_count": file_count})))

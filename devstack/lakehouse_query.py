"""Run the lakehouse example queries (`include/sql/github_lakehouse/queries/*.sql`, Athena dialect,
the seed README's queries with the day as a parameter) on the local stack: DuckDB over the
emulator's Glue + S3 Iceberg tables, through the same engine the DAGs use.

    python -m devstack.lakehouse_query top_repositories --day 2024-01-15
    python -m devstack.lakehouse_query --list
"""

from __future__ import annotations

import argparse
import os
import sys

from archiveflow.paths import include_path
from devstack import stack

QUERIES = ("sql", "github_lakehouse", "queries")


def query_names() -> list[str]:
    return sorted(path.stem for path in include_path(*QUERIES).glob("*.sql"))


def run_query(name: str, day: str) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of one example query, on the connections of the current environment."""
    import contextlib

    from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook
    from archiveflow.lakehouse.statements import load_statement
    from archiveflow.operators.lakehouse_sql import local_engine

    with contextlib.closing(local_engine(LakehouseSqlHook())) as engine:
        result = engine.run(load_statement(f"github_lakehouse/queries/{name}.sql", {"day": day}))
    return result.columns or [], result.rows or []


def format_rows(columns: list[str], rows: list[tuple]) -> str:
    widths = [max(len(str(v)) for v in [c, *(r[i] for r in rows)]) for i, c in enumerate(columns)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.lakehouse_query", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", choices=query_names())
    parser.add_argument("--day", help="the day (YYYY-MM-DD) the query is about")
    parser.add_argument("--list", action="store_true", help="list the example queries")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        print("\n".join(query_names()))
        return 0
    if not args.day:
        parser.error("--day is required")
    os.environ.update(stack.connection_env(stack.StackConfig.default()))
    print(format_rows(*run_query(args.name, args.day)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The SQL of this capability lives in include/sql/rdbms_archival/*.sql (psycopg `{name}` slots
are filled with `sql.Identifier`s and compiled clauses, never with user text). Where include/
is found: archiveflow.paths.
"""

from __future__ import annotations

import functools

from psycopg import sql

from archiveflow.paths import include_path


@functools.cache
def load(name: str) -> sql.SQL:
    return sql.SQL(include_path("sql", "rdbms_archival", f"{name}.sql").read_text())

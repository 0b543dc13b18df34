"""Ask PostgreSQL whether it accepts the SELECT a run will archive, before anything is read.

`EXPLAIN` plans the statement without running it (nothing is read), in a read-only
transaction, once with the parameters bound on the server (as the count, checksums and purge
get them) and once bound by psycopg on the client (as COPY gets them). What PostgreSQL refuses
(`Index < 'abc'`, `name = 1`, `1/0`, a type it cannot compare) is bad input, reported with
PostgreSQL's own message and the field at fault; connection trouble is left to the retries.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from archiveflow.errors import BadRequest
from archiveflow.rdbms_archival import sql_files
from archiveflow.rdbms_archival.row_digest import row_digest_sql
from archiveflow.rdbms_archival.sql_guard import Selection, Table, compile_selection

# SQLSTATE classes that mean "this statement is wrong", not "the server had trouble": data
# exception, syntax error or access rule violation, feature not supported, program limit exceeded.
_BAD_INPUT_CLASSES = ("22", "42", "0A", "54")


def check_with_postgresql(conn: psycopg.Connection, plan) -> None:
    """`plan` is a source.TablePlan. Raises BadRequest naming the field PostgreSQL refuses."""
    message = _refusal(conn, plan, plan.selection)
    if message is None:
        return
    request = plan.request
    if request.query is not None and request.condition is not None:
        columns = tuple(c.name for c in plan.source.columns)
        query_only = compile_selection(Table(plan.source.schema, plan.source.name, columns), None, request.query)
        field = "query" if _refusal(conn, plan, query_only) else "condition"
    else:
        field = "query" if request.query is not None else "condition" if request.condition is not None \
            else "table_name"
    raise BadRequest(plan.field(field), f"PostgreSQL refuses it: {message}", plan.label)


def _refusal(conn: psycopg.Connection, plan, selection: Selection) -> str | None:
    select = sql_files.load("select_rows").format(
        columns=sql.SQL(", ").join(sql.SQL(c.family.select).format(c=sql.Identifier(c.name)) for c in plan.columns),
        digest=row_digest_sql(plan.columns), table=plan.source.scope, where=selection.where)
    client_bound = psycopg.ClientCursor(conn).mogrify(select, selection.params)
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(sql.SQL("EXPLAIN {}").format(select), selection.params)
            conn.execute("EXPLAIN " + client_bound)
    except psycopg.Error as e:
        if e.sqlstate is None or not e.sqlstate.startswith(_BAD_INPUT_CLASSES):
            raise
        return (e.diag.message_primary or str(e)).strip()
    return None

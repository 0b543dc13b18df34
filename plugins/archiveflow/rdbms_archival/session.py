"""The source database session: what every connection the DAG opens to it is set to.

- `search_path` is pinned to `pg_catalog, pg_temp` on the psycopg connection and on the ADBC
  one, so an object planted in `public` (or any schema a role's or connection's settings put
  first) cannot stand in for a function or operator the archive calls (the CVE-2018-1058
  class); tables are always schema-qualified. It wins over a `search_path` the connection's
  own `options` set, and the run reports that it did.
- The ADBC connection string is the psycopg connection's own libpq parameters (host or socket
  directory, port, sslmode, sslrootcert, options, application_name, ... and the password, IAM
  token included), so the fast path connects exactly like the checked one.
- No password reaches a message: `without_password` scrubs driver errors.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SEARCH_PATH = "pg_catalog, pg_temp"
_SEARCH_PATH_OPTION = "-c search_path=" + SEARCH_PATH.replace(" ", "")
_WHERE = (b"host", b"hostaddr", b"port", b"dbname", b"user")


def pin_search_path(conn: psycopg.Connection) -> str | None:
    """Pin the session's search_path. Returns the search_path the connection's startup options
    (its `options` extra, or PGOPTIONS) had set and this replaced, else None."""
    with conn.transaction():  # committed even on a connection that is not in autocommit
        setting, source = conn.execute(
            "SELECT setting, source FROM pg_catalog.pg_settings WHERE name = 'search_path'").fetchone()
        conn.execute("SELECT pg_catalog.set_config('search_path', %s, false)", [SEARCH_PATH])
    return setting if source == "client" else None


def adbc_conninfo(conn: psycopg.Connection) -> str:
    """A libpq connection string (the ADBC PostgreSQL driver takes one) with every parameter
    `conn` was opened with, and our search_path appended to its `options` (the last -c wins)."""
    # Defaults are left out (the other libpq may not know a newer keyword), except where to
    # connect: the two drivers' libpq builds may default to different socket directories.
    params = {o.keyword.decode(): o.val.decode() for o in conn.pgconn.info
              if o.val is not None and (o.val != o.compiled or o.keyword in _WHERE)}
    params["options"] = f"{params.get('options', '')} {_SEARCH_PATH_OPTION}".strip()
    return make_conninfo(**params)


def without_password(message: str, conninfo: str) -> str:
    """`message` with the connection string and its password replaced."""
    password = conninfo_to_dict(conninfo).get("password")
    message = message.replace(conninfo, "<connection string>")
    return message.replace(str(password), "***") if password else message

"""Make sure the machine's PostgreSQL server runs and the project's databases exist."""

from __future__ import annotations

import glob
import os
import subprocess
import time

import psycopg
from psycopg import sql

PG_HOST = os.environ.get("ARCHIVEFLOW_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ARCHIVEFLOW_PG_PORT", "5432"))
PG_USER = os.environ.get("ARCHIVEFLOW_PG_USER", "postgres")


def dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def is_up() -> bool:
    try:
        psycopg.connect(dsn("postgres"), connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def ensure_running(timeout: float = 60) -> None:
    """Start the Debian cluster when it is down (as CI machines may have it)."""
    if is_up():
        return
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions:
        raise RuntimeError(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} and no cluster is installed")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
    )
    deadline = time.monotonic() + timeout
    while not is_up():
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not come up on {PG_HOST}:{PG_PORT} within {timeout:.0f}s")
        time.sleep(0.5)


def ensure_database(name: str) -> str:
    """Create database `name` if missing; return its DSN."""
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return dsn(name)


def drop_database(name: str) -> None:
    """Drop database `name` if it exists, closing its sessions first."""
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

"""The PostgreSQL database an archive reads from, as a `PostgresHook` with the archive's session
rules (see `archiveflow.rdbms_archival.session` and `allowed_sources`)."""

from __future__ import annotations

from functools import cached_property

from airflow.providers.postgres.hooks.postgres import PostgresHook

from archiveflow.rdbms_archival.allowed_sources import EXTRA_KEY, AllowedSources
from archiveflow.rdbms_archival.session import SEARCH_PATH, adbc_conninfo, pin_search_path


class SourceDatabaseHook(PostgresHook):
    """`get_conn()` pins the session's search_path (`replaced_search_path` says what the
    connection's own options had set); `adbc_conninfo()` gives the ADBC driver the same libpq
    parameters; the extra's allow-list (`archiveflow_allowed_sources`) is read here and not
    passed to libpq."""

    ignored_extra_options = PostgresHook.ignored_extra_options | {EXTRA_KEY}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.replaced_search_path: str | None = None

    def get_conn(self):
        conn = super().get_conn()
        self.replaced_search_path = pin_search_path(conn)
        if self.replaced_search_path is not None:
            self.log.warning("the connection's options set search_path=%s; the archive pins it to %s",
                             self.replaced_search_path, SEARCH_PATH)
        return conn

    @cached_property
    def allowed_sources(self) -> AllowedSources:
        return AllowedSources.from_extra(self.connection.extra_dejson, self.get_conn_id())

    def adbc_conninfo(self) -> str:
        """Only after get_conn(): the open connection's own parameters."""
        return adbc_conninfo(self.conn)

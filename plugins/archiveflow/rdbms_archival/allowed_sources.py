"""Which schemas and tables a run may read.

System schemas are never a source: `pg_catalog`, `information_schema`, `pg_toast`, the
per-session `pg_temp_N` / `pg_toast_temp_N` (PostgreSQL reserves every `pg_` name for itself).
The source connection's extra may narrow sources further with an allow-list:

    {"archiveflow_allowed_sources": ["sales", "crm.customers"]}

`"sales"` allows every table of schema `sales`, `"crm.customers"` that one table. Names are
PostgreSQL's own (case-sensitive, as `pg_namespace`/`pg_class` hold them). With an allow-list,
whatever it does not name is refused before any read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from archiveflow.errors import BadRequest

EXTRA_KEY = "archiveflow_allowed_sources"


def is_system_schema(schema: str) -> bool:
    return schema == "information_schema" or schema.startswith("pg_")


@dataclass(frozen=True)
class AllowedSources:
    entries: tuple[str, ...] | None = None  # None: every schema but the system ones

    @classmethod
    def from_extra(cls, extra: Mapping, conn_id: str) -> AllowedSources:
        entries = extra.get(EXTRA_KEY)
        if entries is None:
            return cls()
        if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
            raise BadRequest("glue_connection", f"connection {conn_id!r}: extra {EXTRA_KEY!r} must be a list of "
                             "'schema' or 'schema.table' names")
        return cls(tuple(entries))

    def refusal(self, schema: str, table: str) -> tuple[str, str] | None:
        """(which field is at fault: 'schema' or 'table', why), or None when the table may be read."""
        if is_system_schema(schema):
            return "schema", f"{schema!r} is a PostgreSQL system schema; it is never archived"
        if self.entries is None or schema in self.entries or f"{schema}.{table}" in self.entries:
            return None
        if any(e.startswith(f"{schema}.") for e in self.entries):
            return "table", f"{schema}.{table} is not in the source connection's {EXTRA_KEY}"
        return "schema", f"schema {schema!r} is not in the source connection's {EXTRA_KEY}"


NO_ALLOW_LIST = AllowedSources()

"""The run conf: the seed's payload as-is, plus purge, dry_run, target Glue database, batch size.

`FIELDS` is the one definition of every field (default, JSON schema, description): the DAG turns
it into `Param`s, so a conf that breaks a schema is refused at trigger time, and `parse_request`
checks the same schemas again for callers that bypass the form (tests, `dag.test`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"
SQL_TEXT = {"type": ["string", "null"], "minLength": 1, "maxLength": 4000}

FIELDS: dict[str, tuple[Any, dict, str]] = {
    "glue_connection": ("postgres_default", {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,250}$"},
                        "Airflow connection id of the source PostgreSQL server."),
    "source_database": (None, {"type": ["string", "null"], "pattern": IDENTIFIER},
                        "Database to archive from; empty = the connection's own database."),
    "source_schema": ("public", {"type": "string", "pattern": IDENTIFIER}, "Schema holding the tables."),
    "source_table": (
        [{"table_name": "products", "condition": "Index < 20"}],
        {"type": "array", "minItems": 1, "maxItems": 100, "items": {
            "type": "object", "required": ["table_name"], "additionalProperties": False,
            "properties": {"table_name": {"type": "string", "pattern": IDENTIFIER},
                           "condition": SQL_TEXT, "query": SQL_TEXT}}},
        "Tables to archive: [{table_name, condition?, query?}]. `condition` is a boolean expression over the "
        "table's columns (e.g. `Index < 20`); `query` is `SELECT <columns|*> FROM <table> [WHERE ...]`. "
        "Without either, the whole table is archived.",
    ),
    "legal_hold": (False, {"type": "boolean"},
                   "Rows under legal hold are archived but never purged; recorded on the Iceberg table."),
    "retention_policy": (6, {"type": "integer", "minimum": 0, "maximum": 1200},
                         "Retention of the archive in months (recorded; sets the report's expiry date)."),
    "triggered_by": ("unknown", {"type": "string", "minLength": 1, "maxLength": 200}, "Who asked for this run."),
    "triggered_by_email": ("unknown@example.com",
                           {"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
                           "Their e-mail address (in the report and metadata)."),
    "purge": (False, {"type": "boolean"},
              "Delete the archived rows from the source after validation passed (by primary key)."),
    "dry_run": (False, {"type": "boolean"}, "With purge: count what would be deleted, delete nothing."),
    "target_glue_database": (None, {"type": ["string", "null"], "pattern": r"^[a-z0-9_]{1,255}$"},
                             "Glue database for the Iceberg tables; empty = the deployment's archive database."),
    "batch_size": (50_000, {"type": "integer", "minimum": 1_000, "maximum": 1_000_000},
                   "Rows per purge transaction, and per batch when reading archived rows back (validation, purge)."),
}


class RequestError(ValueError):
    """Bad input. The message names the conf field (and the table when there is one)."""

    def __init__(self, field: str, message: str, table: str | None = None):
        self.field, self.table = field, table
        super().__init__(f"{field}{f' (table {table})' if table else ''}: {message}")


@dataclass(frozen=True)
class TableRequest:
    table_name: str
    condition: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class ArchivalRequest:
    glue_connection: str
    source_database: str | None
    source_schema: str
    source_table: tuple[TableRequest, ...]
    legal_hold: bool
    retention_policy: int
    triggered_by: str
    triggered_by_email: str
    purge: bool
    dry_run: bool
    target_glue_database: str | None
    batch_size: int

    def as_conf(self) -> dict[str, Any]:
        conf = {name: getattr(self, name) for name in FIELDS}
        conf["source_table"] = [t.__dict__ for t in self.source_table]
        return conf


def parse_request(conf: Mapping[str, Any]) -> ArchivalRequest:
    values = {}
    for name, (default, schema, _) in FIELDS.items():
        value = conf.get(name, default)
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(value))
        if error is not None:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            raise RequestError(name + where, error.message)
        values[name] = value
    tables = tuple(TableRequest(**t) for t in values["source_table"])
    seen: set[str] = set()
    for i, table in enumerate(tables):
        if table.table_name.lower() in seen:
            raise RequestError(f"source_table[{i}].table_name", "appears more than once", table.table_name)
        seen.add(table.table_name.lower())
    return ArchivalRequest(**{**values, "source_table": tables})

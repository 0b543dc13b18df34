"""The `rdbms_archival` request: the seed's payload as-is, plus purge, dry_run, target Glue
database, batch size.

`FIELDS` is the one definition of every field: the DAG turns it into Params (so a conf that
breaks a schema is refused at trigger time), and `parse_request` checks the same schemas for
callers that bypass the form. Rules that need the source database (tables exist, the condition
compiles, the same table named twice) are checked by `source.plan_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.errors import BadRequest
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
SOURCE = "Source database"
WHAT = "Tables to archive"
DESTINATION = "Archive destination"
SAFETY = "Purge and safety"
WHO = "Who asked"

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"
SQL_TEXT = {"type": ["string", "null"], "minLength": 1, "maxLength": 4000}

FIELDS: dict[str, Field] = {
    "glue_connection": Field(
        "postgres_default", {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,250}$"},
        "Source connection", "Airflow connection id of the source PostgreSQL server (the seed calls it "
        "`glue_connection`).", SOURCE),
    "source_database": Field(None, {"type": ["string", "null"], "pattern": IDENTIFIER}, "Source database",
                             "Database to archive from; empty = the connection's own database.", SOURCE),
    "source_schema": Field("public", {"type": "string", "pattern": IDENTIFIER}, "Source schema",
                           "Schema holding the tables.", SOURCE),
    "source_table": Field(
        [{"table_name": "products", "condition": "Index < 20"}],
        {"type": "array", "minItems": 1, "maxItems": 100, "items": {
            "type": "object", "required": ["table_name"], "additionalProperties": False,
            "properties": {"table_name": {"type": "string", "pattern": IDENTIFIER},
                           "condition": SQL_TEXT, "query": SQL_TEXT}}},
        "Tables", "Tables to archive: [{table_name, condition?, query?}]. `condition` is a boolean expression "
        "over the table's columns (e.g. `Index < 20`); `query` is `SELECT <columns|*> FROM <table> [WHERE ...]`. "
        "Without either, the whole table is archived.", WHAT),
    "target_glue_database": Field(None, {"type": ["string", "null"], "pattern": r"^[a-z0-9_]{1,255}$"},
                                  "Target Glue database",
                                  "Glue database for the Iceberg tables; empty = the deployment's archive database.",
                                  DESTINATION),
    "retention_policy": Field(6, {"type": "integer", "minimum": 0, "maximum": 1200}, "Retention (months)",
                              "Retention of the archive in months (recorded; sets the report's expiry date).",
                              DESTINATION),
    "purge": Field(False, {"type": "boolean"}, "Purge archived rows",
                   "Delete the archived rows from the source after validation passed: by primary key, and only "
                   "rows still identical to their archived version (changed rows are kept and counted).", SAFETY),
    "dry_run": Field(False, {"type": "boolean"}, "Dry run", "With purge: count what would be deleted, delete nothing.",
                     SAFETY),
    "legal_hold": Field(False, {"type": "boolean"}, "Legal hold",
                        "Put the archived tables under legal hold: recorded on each Iceberg table, where it stays "
                        "for later runs until one releases it; nothing is purged from a held table.", SAFETY),
    "release_legal_hold": Field(False, {"type": "boolean"}, "Release legal hold",
                                "Release a legal hold set by an earlier run on these tables (recorded in the "
                                "run's metadata and report). A run without it keeps an existing hold.", SAFETY),
    "allow_purge_cascade": Field(False, {"type": "boolean"}, "Allow purge to cascade",
                                 "Purge a table that other tables reference with ON DELETE CASCADE / SET NULL / "
                                 "SET DEFAULT, changing their rows too (dry_run counts them). Without it such a "
                                 "purge is refused before anything is read.", SAFETY),
    "batch_size": Field(50_000, {"type": "integer", "minimum": 1_000, "maximum": 1_000_000}, "Batch size",
                        "Rows per purge transaction, and per batch when reading archived rows back "
                        "(validation, purge).", SAFETY),
    "read_streams": Field(1, {"type": "integer", "minimum": 1, "maximum": 8}, "Read connections per table",
                          "Connections reading one table at once, all in one snapshot, split by primary-key ranges "
                          "(a single integer key; other tables are read by one). Each is a backend on the source "
                          "database: keep it at 1 unless the table is large and the server has cores to spare.",
                          SOURCE),
    "parallel_read_min_mb": Field(1024, {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                                  "Parallel read from (MB)",
                                  "With read_streams above 1: only tables whose heap is at least this size are "
                                  "read by several connections (smaller ones gain nothing from it).", SOURCE),
    "triggered_by": Field("unknown", {"type": "string", "minLength": 1, "maxLength": 200}, "Requested by",
                          "Who asked for this run.", WHO),
    "triggered_by_email": Field("unknown@example.com",
                                {"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
                                "Requester's e-mail", "Their e-mail address (in the report and metadata).", WHO),
}


@dataclass(frozen=True)
class TableRequest:
    table_name: str
    condition: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class ArchivalRequest:
    source_conn_id: str  # the conf's `glue_connection` (the seed's name for it)
    source_database: str | None
    source_schema: str
    source_table: tuple[TableRequest, ...]
    legal_hold: bool
    release_legal_hold: bool
    allow_purge_cascade: bool
    retention_policy: int
    triggered_by: str
    triggered_by_email: str
    purge: bool
    dry_run: bool
    target_glue_database: str | None
    batch_size: int
    read_streams: int
    parallel_read_min_mb: int

    def as_conf(self) -> dict[str, Any]:
        conf = {name: getattr(self, name) for name in FIELDS if name != "glue_connection"}
        conf["glue_connection"] = self.source_conn_id
        conf["source_table"] = [t.__dict__ for t in self.source_table]
        return conf


def parse_request(conf: Mapping[str, Any]) -> ArchivalRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    values = check_fields(FIELDS, conf)
    values["source_conn_id"] = values.pop("glue_connection")
    values["source_table"] = tuple(TableRequest(**t) for t in values["source_table"])
    if values["legal_hold"] and values["release_legal_hold"]:
        raise BadRequest("release_legal_hold", "cannot set (legal_hold) and release a legal hold in the same run")
    return ArchivalRequest(**values)

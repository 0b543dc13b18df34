"""How user-given names map to PostgreSQL objects, and PostgreSQL names to Iceberg names.

Case rules (PostgreSQL folds unquoted identifiers to lower case; seed payloads were written for
case-preserving engines, e.g. `Index < 20` for a column created as "Index"):

- A name given in JSON (`source_schema`, `table_name`) matches exactly, else the one object whose
  name matches ignoring case.
- An unquoted identifier in `condition`/`query` matches like PostgreSQL (its lower-case form),
  else the one column whose name matches ignoring case.
- A quoted identifier ("Index") matches exactly and only exactly.
- More than one case-insensitive candidate is an error naming them: we never guess.

Iceberg (and Athena) names are lower case: `[^a-z0-9_]` becomes `_`. A table archives to
`{target_glue_database}.{source_database}__{source_schema}__{table}` in those terms, with three
columns of archiveflow's own after the source's (a source column of the same name is refused):
`archiveflow_row_digest` (row_digest.py), `archiveflow_run_id` and `archiveflow_archived_at` (the
version: when the run's source snapshot was taken; the newest version of a key is the current one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from archiveflow.errors import ArchiveflowError

ROW_DIGEST_COLUMN = "archiveflow_row_digest"
RUN_COLUMN = "archiveflow_run_id"
VERSION_COLUMN = "archiveflow_archived_at"
ARCHIVE_COLUMNS = (ROW_DIGEST_COLUMN, RUN_COLUMN, VERSION_COLUMN)


class UnknownName(ArchiveflowError):
    """A name that matches nothing, or more than one thing."""


def resolve(wanted: str, available: Iterable[str], *, what: str, quoted: bool, sql_identifier: bool) -> str:
    names = list(available)
    if sql_identifier and not quoted and wanted.lower() in names:
        return wanted.lower()
    if wanted in names:
        return wanted
    if quoted:
        raise UnknownName(f'{what} "{wanted}" does not exist (quoted names match exactly)')
    candidates = [n for n in names if n.lower() == wanted.lower()]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise UnknownName(f"{what} {wanted!r} is ambiguous: {sorted(candidates)}; quote the one you mean")
    raise UnknownName(f"{what} {wanted!r} does not exist")


def iceberg_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def iceberg_table_name(database: str, schema: str, table: str) -> str:
    return "__".join(iceberg_name(part) for part in (database, schema, table))

"""The per-row digest: what a purge compares to decide that a source row is still identical to
its archived version, and what a re-run compares to skip rows archived unchanged.

Why a digest of the values rather than `xmin`: `xmin` changes when a row is rewritten with equal
values and after a dump/restore (rows kept for no reason), is absent from views and foreign
tables, and wraps around after 2^32 transactions, so a deleted and re-inserted row can come back
with an archived `xmin`. A digest says what the issue asks: the values are the archived ones.

It is computed on the PostgreSQL server with one SQL expression, in the archive's snapshot (a
column of the COPY, stored in the Iceberg table as `archiveflow_row_digest`) and again inside the
purge's DELETE (re-evaluated on the newest row version when a writer changed the row meanwhile),
so both sides use the same code, collation and types. It XORs one 64-bit hash per column, each
seeded with the column's position (a value moved to another column changes it), with PostgreSQL's
built-in extended hashes (cheap: ~6% of the COPY's server time; md5 of the row text is ~3x the
COPY). Text is hashed as bytes (COLLATE "C"), numeric(p, s) by value at its fixed scale and sign, other
numerics as text (1.0 vs 1.00 differ), -0.0 and NULL have hashes of their own. (Before 2026-12-03
a numeric's sign was left out: rows archived with a negative numeric then no longer match their
archived digest, so a purge keeps them and the next run archives them once more: the safe way.) Two different rows
of one key share a digest with probability 2^-64.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from archiveflow.rdbms_archival.pgtypes import Column

# Every function gets its exact argument types (seeds are int8), so no overload in another schema
# could be a closer match (the source session's search_path is pinned as well).
_TEXT = 'hashtextextended({c}::text COLLATE "C", {s}::int8)'
_FLOAT = ("CASE WHEN {c} = 0 AND atan2({c}::float8, -1::float8) < 0 THEN hashint8extended({s}::int8, 123456789::int8) "
          "ELSE hashfloat8extended({c}::float8, {s}::int8) END")
_BY_FAMILY = {
    "int32": "hashint8extended({c}::int8, {s}::int8)",
    "int64": "hashint8extended({c}::int8, {s}::int8)",
    # hash_numeric_extended ignores the sign (100 and -100 hash alike): a negative value is hashed
    # with the negated seed, which no column's seed equals.
    "decimal": "hash_numeric_extended({c}::numeric, CASE WHEN {c} < 0 THEN -{s}::int8 ELSE {s}::int8 END)",
    "float32": _FLOAT,
    "float64": _FLOAT,
    "boolean": "hashint8extended({c}::int4::int8, {s}::int8)",
    "date": "timestamp_hash_extended({c}::timestamp, {s}::int8)",
    "time": "time_hash_extended({c}::time, {s}::int8)",
    "timestamp": "timestamp_hash_extended({c}::timestamp, {s}::int8)",
    "timestamptz": "timestamp_hash_extended({c} AT TIME ZONE 'UTC', {s}::int8)",
    "bytes": "hashint8extended(('x' || left(md5({c}::bytea), 16))::bit(64)::int8, {s}::int8)",
    "uuid": "uuid_hash_extended({c}::uuid, {s}::int8)",
    "text": _TEXT,
    "list": _TEXT,
}
_NULL = "hashint8extended({s}::int8, 987654321::int8)"


def row_digest_sql(columns: Sequence[Column]) -> sql.Composable:
    """A bigint expression over the (unqualified) columns, in their table order."""
    parts = [sql.SQL("coalesce({h}, {null})").format(
        h=sql.SQL(_BY_FAMILY[column.family.name]).format(c=sql.Identifier(column.name), s=sql.Literal(seed)),
        null=sql.SQL(_NULL).format(s=sql.Literal(seed)))
        for seed, column in enumerate(columns, start=1)]
    return sql.SQL("({})").format(sql.SQL(" # ").join(parts))

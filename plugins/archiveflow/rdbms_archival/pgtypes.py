"""PostgreSQL column types -> Iceberg types, and the per-column checksum computed on both sides.

Each column belongs to one `Family`, which says:
- its Iceberg type (every field optional, so an upstream NOT NULL change never blocks a run);
- how the COPY select list reads it (casts to text where Arrow has no faithful type);
- its checksum: count of non-NULL values and the sum of a per-value digest, order-independent
  and exact (numeric sums, no floats), computed in SQL on PostgreSQL (`digest_sql`) and on the
  Arrow data read back from Iceberg (`digest`). Digests: integers, decimals, dates, times and
  timestamps sum their value (days / microseconds); floats sum their IEEE-754 bit patterns (so
  NaN, -0.0 and +-Infinity count); text, bytes and arrays sum the first 64 bits of an MD5.

Lossy-by-design choices (documented): char(n) loses its pad spaces (PostgreSQL ignores them too);
uuid, enums, json/jsonb, unconstrained numeric (and numeric whose scale is negative or above its
precision), interval and every other type are archived as
PostgreSQL's text form; only 1-D arrays of integers, text and booleans stay lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from archiveflow.rdbms_archival.pghash import hash_text_extended

EXACT_DIGITS = 200  # Decimal precision for sums: far above any numeric(38, s) sum, so nothing rounds
_LIST_ELEMENTS = {"int2": IntegerType(), "int4": IntegerType(), "int8": LongType(), "text": StringType(),
                  "varchar": StringType(), "bool": BooleanType()}


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str
    type_name: str
    type_kind: str
    element_type: str | None = None
    element_kind: str | None = None
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    nullable: bool = True

    @property
    def family(self) -> Family:
        return family_of(self)


def _sum_int64(values: pa.Array | np.ndarray) -> int:
    """Exact sum of integers (split in 32-bit halves: no int64 overflow)."""
    a = np.asarray(values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values, dtype=np.int64)
    return (int((a >> 32).sum()) << 32) + int((a & 0xFFFFFFFF).sum())


def _sum_decimal(values: pa.Array) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        return sum(values.to_pylist(), Decimal(0))


def _sum_md5(values: Iterable[bytes]) -> int:  # bytea: hashtextextended takes text only
    return sum(int.from_bytes(hashlib.md5(v).digest()[:8], "big", signed=True) for v in values)


def _pg_array_item(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if value == "" or value.upper() == "NULL" or any(c in value for c in '{},"\\ \t\n\r\v\f'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def pg_array_text(items: list) -> str:
    """PostgreSQL's text output of a 1-D array (array_out's quoting rules)."""
    return "{" + ",".join(_pg_array_item(i) for i in items) + "}"


@dataclass(frozen=True)
class Family:
    name: str
    iceberg: Callable[[Column], IcebergType]
    select: str  # read expression, `{c}` is the quoted column
    digest_sql: str  # per-value digest summed on PostgreSQL
    digest: Callable[[pa.Array], int | Decimal]  # the same sum over non-NULL Arrow values


_HASH_TEXT = """hashtextextended({c}::text COLLATE "C", 0)"""  # "C": bytes, whatever the column's collation
_EPOCH_MICROS = "(extract(epoch FROM {c}) * 1000000)"

INT32 = Family("int32", lambda c: IntegerType(), "{c}", "{c}::numeric", _sum_int64)
INT64 = Family("int64", lambda c: LongType(), "{c}", "{c}::numeric", _sum_int64)
DECIMAL = Family("decimal", lambda c: DecimalType(c.numeric_precision, c.numeric_scale), "{c}", "{c}",
                 _sum_decimal)
FLOAT32 = Family("float32", lambda c: FloatType(), "{c}", "('x' || encode(float4send({c}), 'hex'))::bit(32)::int",
                 lambda a: _sum_int64(a.view(pa.int32())))
FLOAT64 = Family("float64", lambda c: DoubleType(), "{c}",
                 "('x' || encode(float8send({c}), 'hex'))::bit(64)::bigint", lambda a: _sum_int64(a.view(pa.int64())))
BOOLEAN = Family("boolean", lambda c: BooleanType(), "{c}", "{c}::int", lambda a: pc.sum(a.cast(pa.int64())).as_py())
DATE = Family("date", lambda c: DateType(), "{c}", "({c} - DATE '1970-01-01')", lambda a: _sum_int64(a.cast(pa.int32())))
TIME = Family("time", lambda c: TimeType(), "{c}", _EPOCH_MICROS, lambda a: _sum_int64(a.cast(pa.int64())))
TIMESTAMP = Family("timestamp", lambda c: TimestampType(), "{c}", _EPOCH_MICROS, lambda a: _sum_int64(a.cast(pa.int64())))
TIMESTAMPTZ = Family("timestamptz", lambda c: TimestamptzType(), "{c}", _EPOCH_MICROS,
                     lambda a: _sum_int64(a.cast(pa.int64())))
BYTES = Family("bytes", lambda c: BinaryType(), "{c}", "('x' || left(md5({c}), 16))::bit(64)::bigint",
               lambda a: _sum_md5(a.to_pylist()))
TEXT = Family("text", lambda c: StringType(), "{c}::text", _HASH_TEXT, lambda a: _sum_int64(hash_text_extended(a)))
LIST = Family("list", lambda c: ListType(0, _LIST_ELEMENTS[c.element_type], element_required=False), "{c}",
              _HASH_TEXT, lambda a: _sum_int64(hash_text_extended(pa.array([pg_array_text(v) for v in a.to_pylist()]))))

_BY_TYPE = {"int2": INT32, "int4": INT32, "int8": INT64, "float4": FLOAT32, "float8": FLOAT64, "bool": BOOLEAN,
            "date": DATE, "time": TIME, "timestamp": TIMESTAMP, "timestamptz": TIMESTAMPTZ, "bytea": BYTES}


def family_of(column: Column) -> Family:
    if column.type_kind == "b" and column.type_name in _BY_TYPE:
        return _BY_TYPE[column.type_name]
    if (column.type_name == "numeric" and column.numeric_precision and column.numeric_precision <= 38
            and 0 <= column.numeric_scale <= column.numeric_precision):  # Parquet's decimal bounds
        return DECIMAL
    if column.element_type in _LIST_ELEMENTS and column.element_kind == "b":
        return LIST
    return TEXT


def arrow_digest(family: Family, values: pa.Array) -> tuple[int, int | Decimal]:
    """(non-NULL count, digest sum) of one Arrow array, as `digest_sql` computes them on PostgreSQL."""
    present = pc.drop_null(values)
    return len(present), (family.digest(present) if len(present) else 0)


def canonical(number: int | Decimal | None) -> str:
    """One spelling per value, so the two sides compare as strings (3.750 == 3.75, no exponent)."""
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        return format(Decimal(number or 0).normalize(), "f")

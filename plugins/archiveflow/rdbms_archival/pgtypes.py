"""PostgreSQL column types -> Iceberg types, and the per-column checksum computed on both sides.

Each column belongs to one `Family`, which says:
- its Iceberg type (every field optional, so an upstream NOT NULL change never blocks a run);
- how the COPY select list reads it (casts to text where Arrow has no faithful type, and for
  numeric, whose text form the ADBC driver decodes ~4x faster than its binary form);
- its checksum: count of non-NULL values and the sum of a per-value digest, order-independent
  and exact (integer and numeric sums, no floats), computed in SQL on PostgreSQL (`digest_sql`)
  and on the Arrow data read back from Iceberg (`digest`). Digests are the cheapest exact ones
  on the server (its CPU competes with the row stream): integers, decimals and dates sum their
  value; floats, times and timestamps sum PostgreSQL's own hash of the value (`pghash.py`; both
  float zeros hash to 0, so negative zeros add 1 each); text and arrays sum `hashtextextended`,
  uuids `uuid_hash_extended` of their 16 bytes; bytes the first 64 bits of an MD5.

Lossy-by-design choices (documented): char(n) loses its pad spaces (PostgreSQL ignores them too);
uuid (read as 16 bytes, stored as its canonical text), enums, json/jsonb, unconstrained numeric
(and numeric whose scale is negative or above its precision), interval and every other type are
archived as PostgreSQL's text form; only 1-D arrays of integers, text and booleans stay lists (a
multi-dimensional value in such a column fails the archive, naming the column, before the commit).
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

from archiveflow.rdbms_archival.pghash import hash_float8_extended, hash_int8_extended, hash_text_extended

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
    type_schema: str = "pg_catalog"  # of the (base) type

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


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_NIBBLE = np.full(256, 255, np.uint8)
_NIBBLE[_HEX_DIGITS] = np.arange(16)
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint16)  # byte -> its 2 hex digits
_UUID_GROUPS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))  # text spans of the 8-4-4-4-12 hex groups
_UUID_HEX_AT = np.concatenate([np.arange(start, stop) for start, stop in _UUID_GROUPS])
_UUID_DASHES_AT = [stop for _, stop in _UUID_GROUPS[:-1]]


def uuid_text(values: pa.Array) -> pa.Array:
    """16-byte uuids (fixed_size_binary(16)) as PostgreSQL's text form, vectorized."""
    raw = np.frombuffer(values.buffers()[1], np.uint8)[16 * values.offset:16 * (values.offset + len(values))]
    hexed = _HEX_PAIRS[raw].view(np.uint8).reshape(-1, 32)
    text = np.empty((len(values), 36), np.uint8)
    text[:, _UUID_DASHES_AT] = ord("-")
    digits = 0
    for start, stop in _UUID_GROUPS:  # slice by slice: ~3x faster than assigning through _UUID_HEX_AT
        text[:, start:stop] = hexed[:, digits:digits + stop - start]
        digits += stop - start
    offsets = np.arange(0, 36 * len(values) + 1, 36, dtype=np.int32)
    strings = pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(text))
    return pc.if_else(values.is_valid(), strings, None) if values.null_count else strings


def uuid_bytes(values: pa.Array) -> pa.Array:
    """The 16 bytes of each canonical uuid text (no NULLs); text that is not one keeps its own
    bytes, so its digest cannot match the source's."""
    values = values.cast(pa.binary())
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    if not len(values) or (lengths != 36).any():
        return values
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + len(values) + 1]
    text = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0]:offsets[-1]].reshape(-1, 36)
    nibbles = _NIBBLE[text[:, _UUID_HEX_AT]]
    if (nibbles == 255).any() or (text[:, _UUID_DASHES_AT] != ord("-")).any():
        return values
    raw = np.ascontiguousarray(nibbles[:, 0::2] << 4 | nibbles[:, 1::2], dtype=np.uint8)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(values), [None, pa.py_buffer(raw)])


@dataclass(frozen=True)
class Family:
    name: str
    iceberg: Callable[[Column], IcebergType]
    select: str  # read expression, `{c}` is the quoted column
    digest_sql: str  # per-value digest summed on PostgreSQL
    digest: Callable[[pa.Array], int | Decimal]  # the same sum over non-NULL Arrow values


# Functions are called with their exact argument types (0::int8 seeds, float8 arguments), so no
# overload in another schema could be a closer match; search_path is pinned as well (session.py).
_HASH_TEXT = """hashtextextended({c}::text COLLATE "C", 0::int8)"""  # "C": bytes, whatever the column's collation
_FLOAT_SQL = "CASE WHEN {c} = 0 THEN (atan2({c}::float8, -1::float8) < 0)::int ELSE hash%sextended({c}, 0::int8) END"
_EPOCH_2000_MICROS = 946_684_800_000_000  # PostgreSQL counts timestamps from 2000-01-01


def _float_digest(values: pa.Array) -> int:
    v = values.to_numpy(zero_copy_only=False).astype(np.float64)
    return _sum_int64(hash_float8_extended(v)) + int(np.count_nonzero((v == 0) & np.signbit(v)))


def _int8_hash_digest(values: pa.Array, offset: int = 0) -> int:
    return _sum_int64(hash_int8_extended(values.cast(pa.int64()).to_numpy(zero_copy_only=False) - offset))


INT32 = Family("int32", lambda c: IntegerType(), "{c}", "{c}", _sum_int64)
INT64 = Family("int64", lambda c: LongType(), "{c}", "{c}", _sum_int64)
DECIMAL = Family("decimal", lambda c: DecimalType(c.numeric_precision, c.numeric_scale), "{c}::text", "{c}",
                 _sum_decimal)
FLOAT32 = Family("float32", lambda c: FloatType(), "{c}", _FLOAT_SQL % "float4", _float_digest)
FLOAT64 = Family("float64", lambda c: DoubleType(), "{c}", _FLOAT_SQL % "float8", _float_digest)
BOOLEAN = Family("boolean", lambda c: BooleanType(), "{c}", "{c}::int", lambda a: pc.sum(a.cast(pa.int64())).as_py())
DATE = Family("date", lambda c: DateType(), "{c}", "({c} - DATE '1970-01-01')", lambda a: _sum_int64(a.cast(pa.int32())))
TIME = Family("time", lambda c: TimeType(), "{c}", "time_hash_extended({c}, 0::int8)", _int8_hash_digest)
TIMESTAMP = Family("timestamp", lambda c: TimestampType(), "{c}", "timestamp_hash_extended({c}, 0::int8)",
                   lambda a: _int8_hash_digest(a, _EPOCH_2000_MICROS))
TIMESTAMPTZ = Family("timestamptz", lambda c: TimestamptzType(), "{c}",
                     "timestamp_hash_extended({c} AT TIME ZONE 'UTC', 0::int8)", lambda a: _int8_hash_digest(a, _EPOCH_2000_MICROS))
BYTES = Family("bytes", lambda c: BinaryType(), "{c}", "('x' || left(md5({c}), 16))::bit(64)::bigint",
               lambda a: _sum_md5(a.to_pylist()))
TEXT = Family("text", lambda c: StringType(), "{c}::text", _HASH_TEXT, lambda a: _sum_int64(hash_text_extended(a)))
UUID = Family("uuid", lambda c: StringType(), "{c}", "uuid_hash_extended({c}, 0::int8)",
              lambda a: _sum_int64(hash_text_extended(uuid_bytes(a))))
LIST = Family("list", lambda c: ListType(0, _LIST_ELEMENTS[c.element_type], element_required=False), "{c}",
              _HASH_TEXT, lambda a: _sum_int64(hash_text_extended(pa.array([pg_array_text(v) for v in a.to_pylist()]))))

_BY_TYPE = {"int2": INT32, "int4": INT32, "int8": INT64, "float4": FLOAT32, "float8": FLOAT64, "bool": BOOLEAN,
            "date": DATE, "time": TIME, "timestamp": TIMESTAMP, "timestamptz": TIMESTAMPTZ, "bytea": BYTES,
            "uuid": UUID}


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

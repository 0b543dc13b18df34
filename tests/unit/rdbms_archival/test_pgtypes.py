"""Type mapping and the Arrow side of the checksums (their agreement with PostgreSQL is proven
by the integration tests; here: the exactness of the arithmetic and the array text rules)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.types import DecimalType, IntegerType, ListType, LongType, StringType

from archiveflow.rdbms_archival import pgtypes
from archiveflow.rdbms_archival.pghash import hash_float8_extended, hash_int8_extended, hash_text_extended
from archiveflow.rdbms_archival.pgtypes import Column, arrow_digest, canonical, family_of, pg_array_text


@pytest.mark.parametrize(("column", "family", "iceberg"), [
    (Column("a", "smallint", "int2", "b"), pgtypes.INT32, IntegerType()),
    (Column("a", "bigint", "int8", "b"), pgtypes.INT64, LongType()),
    (Column("a", "numeric(12,3)", "numeric", "b", numeric_precision=12, numeric_scale=3), pgtypes.DECIMAL,
     DecimalType(12, 3)),
    (Column("a", "numeric", "numeric", "b"), pgtypes.TEXT, StringType()),  # unconstrained: exact text
    (Column("a", "numeric(50,2)", "numeric", "b", numeric_precision=50, numeric_scale=2), pgtypes.TEXT, StringType()),
    (Column("a", "mood", "mood", "e"), pgtypes.TEXT, StringType()),
    (Column("a", "uuid", "uuid", "b"), pgtypes.UUID, StringType()),  # canonical text
    (Column("a", "integer[]", "_int4", "b", "int4", "b"), pgtypes.LIST, ListType(0, IntegerType(), False)),
    (Column("a", "numeric[]", "_numeric", "b", "numeric", "b"), pgtypes.TEXT, StringType()),
    (Column("a", "mood[]", "_mood", "b", "mood", "e"), pgtypes.TEXT, StringType()),
])
def test_family_and_iceberg_type(column, family, iceberg):
    assert family_of(column) is family
    assert family.iceberg(column) == iceberg


def test_integer_digests_are_exact_at_the_extremes():
    values = pa.array([2**63 - 1, 2**63 - 1, -(2**63), None, 5], pa.int64())
    assert arrow_digest(pgtypes.INT64, values) == (4, 2 * (2**63 - 1) - 2**63 + 5)


def test_float_digests_count_nan_infinity_and_negative_zero():
    values = pa.array([float("nan"), float("inf"), -0.0, 0.0, None])
    count, digest = arrow_digest(pgtypes.FLOAT64, values)
    assert count == 4
    # On PostgreSQL 15: SELECT sum(<FLOAT64.digest_sql>) FROM (VALUES ('NaN'::float8), ('Infinity'),
    # ('-0'), ('0'), (NULL)) t(c): hashfloat8extended of NaN and Infinity, plus 1 for the -0
    assert digest == -254123077895525285
    assert arrow_digest(pgtypes.FLOAT32, values.cast(pa.float32())) == (count, digest)  # hashed as float8


def test_decimal_digest_keeps_every_digit():
    values = pa.array([Decimal("9" * 28 + ".9999999999")] * 3, pa.decimal128(38, 10))
    assert canonical(arrow_digest(pgtypes.DECIMAL, values)[1]) == "2" + "9" * 28 + ".9999999997"


def test_canonical_spelling():
    assert [canonical(v) for v in (Decimal("3.750"), 10**20, None, Decimal("-0.0010"))] == [
        "3.75", "100000000000000000000", "0", "-0.001"]


@pytest.mark.parametrize(("items", "text"), [
    ([1, None, 3], "{1,NULL,3}"),
    ([], "{}"),
    ([True, False, None], "{t,f,NULL}"),
    (["a b", None, 'q"uote', "NULL", "", "back\\slash", "{x}", "plain"],
     '{"a b",NULL,"q\\"uote","NULL","","back\\\\slash","{x}",plain}'),
])
def test_array_text_follows_postgres_quoting(items, text):
    assert pg_array_text(items) == text


# SELECT v, hashtextextended(v, 0) on PostgreSQL 15
PG_HASHES = {"": -6939563903564495251, "a": 3591986179850072241, "Index": -1948252147864856175,
             "hello world!": -2866487628948787489, "exactly12byt": -1607044592329689743,
             "thirteen byte": -1147533121609491268, "héllo ✓ 𝄞": -6518881890495487619,
             "long " * 20: -6620854474392159748}


def test_int8_and_float8_hashes_match_postgres():
    # SELECT timestamp_hash_extended('2020-01-01 12:34:56.789', 0), time_hash_extended('12:34:56.789', 0),
    #        hashint8extended(-5, 0), timestamp_hash_extended('1969-01-01', 0) on PostgreSQL 15
    micros = [631_197_296_789_000, 45_296_789_000, -5, -978_220_800_000_000]
    assert hash_int8_extended(micros).tolist() == [4679270074101019031, 7882769155479906242,
                                                   -9082176226831438310, -8065382283166905251]
    # hashfloat8extended('NaN' | '-0' | 1.5 | '-Infinity', 0)
    assert hash_float8_extended(np.array([np.nan, -0.0, 1.5, -np.inf])).tolist() == [
        4719788943832604568, 0, 6158159405676898674, 58695627279844080]


def test_hash_text_extended_matches_postgres_for_every_length_class():
    values = pa.array(list(PG_HASHES))
    assert hash_text_extended(values).tolist() == list(PG_HASHES.values())
    assert hash_text_extended(values.slice(3, 2)).tolist() == list(PG_HASHES.values())[3:5]  # offsets honoured
    assert hash_text_extended(pa.array([], pa.string())).tolist() == []


# SELECT uuid_hash_extended(u, 0) on PostgreSQL 15
PG_UUID_HASHES = {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11": 7543054272012930821,
                  "00000000-0000-0000-0000-000000000000": -6859010066814654381}


def test_uuid_text_is_postgres_text_form_and_its_digest_matches_uuid_hash_extended():
    import uuid

    values = [uuid.UUID(u) for u in PG_UUID_HASHES] + [None]
    raw = pa.array([u.bytes if u else None for u in values], pa.binary(16))
    text = pgtypes.uuid_text(raw)
    assert text.to_pylist() == [*PG_UUID_HASHES, None]
    assert pgtypes.uuid_text(raw.slice(1)).to_pylist() == [*list(PG_UUID_HASHES)[1:], None]
    assert arrow_digest(pgtypes.UUID, text) == (2, sum(PG_UUID_HASHES.values()))


def test_uuid_digest_of_text_that_is_no_uuid_cannot_match():
    bad = pa.array(["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"])  # PostgreSQL never prints upper case
    assert pgtypes.uuid_bytes(bad).type == pa.binary()
    assert arrow_digest(pgtypes.UUID, bad)[1] != PG_UUID_HASHES["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]

"""A condition means what PostgreSQL would make of the same text, or is refused: literals are
bound exactly as written and typed as PostgreSQL types constants; what PostgreSQL spells or reads
differently from sqlglot is refused; nesting and size are capped with a clean error."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg.types.numeric import Int4, Int8

from archiveflow.rdbms_archival.sql_guard import GuardError, Table, compile_selection

T = Table("s", "t", ("id", "name", "price", "created_at", "d"))


def compiled(condition: str) -> tuple[str, tuple]:
    selection = compile_selection(T, condition, None)
    return selection.where.as_string(), selection.params


@pytest.mark.parametrize(("condition", "where", "params"), [
    # sqlglot's interval normaliser turns these into '90 DAYS' (the opposite sign) and '1 DAY'
    ("created_at < now() - interval '90 days ago'", '("created_at" < (CURRENT_TIMESTAMP - CAST(%s AS interval)))',
     ("90 days ago",)),
    ("created_at > interval '1 day 10:00' + d", '("created_at" > (CAST(%s AS interval) + "d"))', ("1 day 10:00",)),
    ("created_at < now() - interval '1 year -2 months 3 days'", None, ("1 year -2 months 3 days",)),
    # a bound '6' cast to `interval MONTH` would be 6 seconds, truncated to 0: the unit multiplies
    ("created_at < now() - INTERVAL '6' MONTH",
     "(\"created_at\" < (CURRENT_TIMESTAMP - (CAST(%s AS integer) * INTERVAL '1 MONTH')))", ("6",)),
    ("created_at < now() - '2 weeks'::interval", '("created_at" < (CURRENT_TIMESTAMP - CAST(%s AS interval)))',
     ("2 weeks",)),
    # standard_conforming_strings: a backslash is a backslash
    ("name = 'a\\nb'", '("name" = %s)', ("a\\nb",)),
    ("name = 'it''s'", '("name" = %s)', ("it's",)),
    ("name = '  padded  '", '("name" = %s)', ("  padded  ",)),
    ("d = DATE '2024-02-29'", '("d" = CAST(%s AS date))', ("2024-02-29",)),
    ("price >= 1e5", '("price" >= %s)', (Decimal("1e5"),)),
    ("price < 5.", '("price" < %s)', (Decimal("5"),)),
    ("name NOT LIKE 'a%' AND name IS NOT NULL", '(("name" NOT LIKE %s) AND ("name" IS NOT NULL))', ("a%",)),
])
def test_literals_are_bound_exactly_as_written(condition, where, params):
    actual_where, actual_params = compiled(condition)
    assert actual_params == params and [type(p) for p in actual_params] == [type(p) for p in params]
    if where is not None:
        assert actual_where == where


@pytest.mark.parametrize(("condition", "value", "pg_type"), [
    ("id = 20", 20, Int4),  # integer, not smallint: `32767 + 1` must not overflow
    ("id = 2147483647", 2147483647, Int4),
    ("id = 2147483648", 2147483648, Int8),
    ("id = -2147483648", -2147483648, Int4),  # PostgreSQL folds the sign into the constant
    ("id = - (7)", -7, Int4),
    ("id = - -7", 7, Int4),
    ("id = -9223372036854775808", -9223372036854775808, Int8),
    ("id = 9223372036854775808", 9223372036854775808, int),  # numeric
    ("price = -2.50", Decimal("-2.50"), Decimal),
])
def test_numbers_are_typed_as_postgresql_types_constants(condition, value, pg_type):
    where, params = compiled(condition)
    assert where == '("id" = %s)' or where == '("price" = %s)'
    assert params == (value,) and type(params[0]) is pg_type


@pytest.mark.parametrize("condition", [
    "id == 1",  # not a PostgreSQL operator; sqlglot reads it as =
    "ifnull(name, 'a') = 'a'",  # sqlglot maps other dialects' functions onto coalesce, lower, length
    "nvl(name, 'a') = 'a'",
    "lcase(name) = 'a'",
    "len(name) > 1",
    "char_length(name) > 1",
    "CAST(id AS string) = '1'",  # sqlglot's alias for text
    "CAST(id AS int64) = 1",
    "name = E'a\\nb'",  # escape, unicode, bit, hex, national strings
    "name = U&'d\\0061t'",
    "name = B'101'",
    "name = X'1F'",
    "name = N'abc'",
    "id = 0x1F",
    "id = 1_000",
    "price = .5",
    "name = 'a' 'b'",
    "name = 'a'\n'b'",
    "created_at < now() - interval '6' months",  # not an interval field in PostgreSQL
    "created_at < now() - interval '1' week",
    "created_at < now() - interval 5 day",
    "created_at < now() - interval '1' day to second",
    "created_at < now() - interval '1.5' day",  # a fraction with a unit: write '1.5 days'
    "created_at < now() - interval '1 day' day",
    "created_at < current_timestamp(3)",
    "created_at < current_date()",
    "name = +'a'",
    "id = + 1",
    "id = $1",
    "id = ?",
    "name = 'a\x00b'",
    "id IN ()",
])
def test_what_postgresql_reads_differently_is_refused(condition):
    with pytest.raises(GuardError, match=r"^condition: "):
        compile_selection(T, condition, None)


@pytest.mark.parametrize("condition", [
    "(" * 200 + "id = 1" + ")" * 200,
    "NOT " * 500 + "id = 1",
    "id = " + " + ".join(["1"] * 300),
    "id = " + "- " * 1500 + "1",
    "lower(" * 100 + "name" + ")" * 100 + " = 'a'",
])
def test_nesting_is_capped_with_a_guard_error(condition):
    with pytest.raises(GuardError, match="nested too deeply"):
        compile_selection(T, condition, None)


def test_long_or_chain_compiles_flat():
    condition = " OR ".join(f"id={i}" for i in range(400))
    where, params = compiled(condition)
    assert len(params) == 400 and where.count("(") == 401  # one group, not 400 nested ones


def test_query_literals_are_checked_too():
    with pytest.raises(GuardError, match=r"^query: .*interval field"):
        compile_selection(T, None, "SELECT * FROM t WHERE created_at < now() - interval '1' days")
    selection = compile_selection(T, None, "SELECT id FROM t WHERE created_at < now() - interval '90 days ago'")
    assert selection.params == ("90 days ago",)

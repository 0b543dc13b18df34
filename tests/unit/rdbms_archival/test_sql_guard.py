"""The condition/query guard: what it allows compiles to our own SQL with bind parameters; a
hostile corpus is refused with the field named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from archiveflow.rdbms_archival.sql_guard import GuardError, Table, compile_selection

PRODUCTS = Table("postgres_test_schema", "products", ("Index", "name", "price", "created_at", "tags"))


def render(condition=None, query=None) -> tuple[str, tuple, tuple]:
    selection = compile_selection(PRODUCTS, condition, query)
    # Rendering needs no server: psycopg's as_string works with a default context.
    return selection.where.as_string(), selection.params, selection.columns


@pytest.mark.parametrize(("condition", "where", "params"), [
    ("Index < 20", '("Index" < %s)', (20,)),
    ('"Index" BETWEEN 1 AND 2.5', '("Index" BETWEEN %s AND %s)', (1, Decimal("2.5"))),
    ("index >= 3 AND NOT name LIKE 'a%'", '(("Index" >= %s) AND (NOT ("name" LIKE %s)))', (3, "a%")),
    ("name IN ('x', 'y''z') OR name IS NULL", '(("name" IN (%s, %s)) OR ("name" IS NULL))', ("x", "y'z")),
    ("lower(name) = 'robert''); DROP TABLE products; --'", '(lower("name") = %s)',
     ("robert'); DROP TABLE products; --",)),
    ("created_at < now() - interval '6 months'",
     '("created_at" < (CURRENT_TIMESTAMP - CAST(%s AS interval)))', ("6 months",)),  # as written
    ("CAST(created_at AS date) <= '2024-01-01' AND price IS NOT NULL",
     '((CAST("created_at" AS date) <= %s) AND ("price" IS NOT NULL))', ("2024-01-01",)),
    ("products.price * 2 > -1", '(("price" * %s) > %s)', (2, -1)),  # the sign is part of the constant
    ("coalesce(price, 0) = 0 AND TRUE", '((coalesce("price", %s) = %s) AND TRUE)', (0, 0)),
])
def test_allowed_conditions_compile_to_bound_sql(condition, where, params):
    assert render(condition)[:2] == (where, params)


def test_query_selects_columns_and_combines_with_condition():
    where, params, columns = render("price > 1", "SELECT name, Index FROM postgres_test_schema.products WHERE Index < 20")
    assert columns == ("name", "Index")
    assert (where, params) == ('("Index" < %s) AND ("price" > %s)', (20, 1))
    assert render(query="select * from products")[1:] == ((), PRODUCTS.columns)


def test_mixed_case_resolution_is_explicit():
    table = Table("s", "t", ("Index", "index", "Name"))
    assert compile_selection(table, "Index = 1", None).where.as_string() == '("index" = %s)'  # Postgres folding
    assert compile_selection(table, '"Index" = 1', None).where.as_string() == '("Index" = %s)'
    assert compile_selection(table, "NAME = 'a'", None).where.as_string() == '("Name" = %s)'  # the one match
    with pytest.raises(GuardError, match="does not exist"):
        compile_selection(table, '"name" = 1', None)  # quoted means exact


HOSTILE_CONDITIONS = [
    "Index < 20; DROP TABLE products",
    "Index < 20 -- trailing comment",
    "/* hidden */ Index < 20",
    "Index < 20;",
    "pg_sleep(10) IS NULL",
    "Index < 20 AND pg_sleep(1) IS NOT NULL",
    "Index IN (SELECT id FROM other_table)",
    "EXISTS (SELECT 1 FROM pg_user)",
    "(SELECT count(*) FROM leads) > 0",
    "other_column < 1",
    "leads.Index < 20",
    "public.products.Index < 1",
    "Index < 20 UNION SELECT * FROM leads",
    "lo_import('/etc/passwd') > 0",
    "current_setting('is_superuser') = 'on'",
    "set_config('statement_timeout', '0', false) = '0'",
    "txid_current() > 0",
    "dblink('host=evil', 'select 1') IS NULL",
    "query_to_xml('select 1', true, true, '') IS NULL",
    "Index::regclass IS NULL",
    "CAST(Index AS regproc) IS NULL",
    "Index",
    "20",
    "name",
    "",
    "   ",
    "Index < 20)",
    "Index < ",
    "name = $$x$$",
    "name ~ 'a'",
    "tags @> ARRAY[1]",
    "name LIKE 'a' ESCAPE '!'",
    "Index = ANY(ARRAY[1,2])",
    "row_number() OVER () < 5",
    "count(*) > 1",
    "name = (SELECT name FROM products LIMIT 1)",
    "x" * 4001,
]


@pytest.mark.parametrize("condition", HOSTILE_CONDITIONS, ids=range(len(HOSTILE_CONDITIONS)))
def test_hostile_conditions_are_refused_naming_the_field(condition):
    with pytest.raises(GuardError, match=r"^condition: "):
        compile_selection(PRODUCTS, condition, None)


HOSTILE_QUERIES = [
    "SELECT * FROM leads",
    "SELECT * FROM other_schema.products",
    "SELECT * FROM products; DELETE FROM products",
    "DELETE FROM products",
    "UPDATE products SET price = 0",
    "INSERT INTO products VALUES (1)",
    "DROP TABLE products",
    "SELECT * FROM products UNION SELECT * FROM leads",
    "WITH x AS (SELECT * FROM leads) SELECT * FROM products",
    "SELECT * FROM products JOIN leads ON true",
    "SELECT * FROM products, leads",
    "SELECT * FROM (SELECT * FROM leads) AS products",
    "SELECT * FROM generate_series(1, 10)",
    "SELECT pg_sleep(1) FROM products",
    "SELECT count(*) FROM products",
    "SELECT * FROM products LIMIT 5",
    "SELECT * FROM products ORDER BY 1",
    "SELECT DISTINCT name FROM products",
    "SELECT * INTO stolen FROM products",
    "SELECT * FROM products FOR UPDATE",
    "SELECT * FROM products WHERE Index IN (SELECT 1)",
    "SELECT * FROM products WHERE pg_sleep(1) IS NULL",
    "SELECT * FROM products p",
    "SELECT name AS n FROM products",
    "SELECT missing FROM products",
    "COPY products TO PROGRAM 'sh'",
    "SELECT * FROM products -- comment",
    "SELECT * FROM products GROUP BY name",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
def test_hostile_queries_are_refused_naming_the_field(query):
    with pytest.raises(GuardError, match=r"^query: "):
        compile_selection(PRODUCTS, None, query)


def test_literals_never_reach_the_sql_text():
    nasty = "x'); DROP TABLE products; --"
    selection = compile_selection(PRODUCTS, f"name = '{nasty.replace(chr(39), chr(39) * 2)}'", None)
    assert "DROP" not in selection.where.as_string() and selection.params == (nasty,)

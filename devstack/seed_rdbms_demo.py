"""The demo source for rdbms_archival: schema `postgres_test_schema` with `products`, `leads` and
`customers` shaped like the sample CSVs the Archive-IO payload was written for (100 rows each,
an "Index" primary key, column names with capitals and spaces). Idempotent: re-running restores
rows a purge removed and changes nothing else.

    python -m devstack.seed_rdbms_demo postgresql://postgres@127.0.0.1:5432/archiveflow_demo
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal

import psycopg
from psycopg import sql

SCHEMA = "postgres_test_schema"
ROWS = 100
TABLES = {
    "products": (
        '"Index" integer PRIMARY KEY, "Name" text NOT NULL, "Brand" text, "Category" text, '
        '"Price" numeric(10, 2), "Currency" char(3), "Stock" integer, "EAN" bigint, '
        '"Internal ID" uuid, "Tags" text[], "Available" boolean',
        lambda i: (i, f"Product {i}", f"Brand {i % 7}", ("Kitchen", "Garden", "Toys")[i % 3],
                   Decimal(i * 137 % 10000) / 100, "EUR", i * 3 % 50, 4000000000000 + i,
                   uuid.UUID(int=i), [f"tag{i % 4}", "démo"], i % 5 != 0),
    ),
    "leads": (
        '"Index" integer PRIMARY KEY, "Account Id" text, "First Name" text, "Last Name" text, '
        '"Company" text, "Email" text, "Deal Stage" text, "Score" double precision, "Created At" timestamptz',
        lambda i: (i, f"ACC{i:05d}", f"First{i}", f"Last{i}", f"Company {i % 11}", f"lead{i}@example.com",
                   ("Qualified", "Proposal", "Closed Won")[i % 3], i / 7,
                   dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)),
    ),
    "customers": (
        '"Index" integer PRIMARY KEY, "Customer Id" text, "First Name" text, "Last Name" text, '
        '"City" text, "Country" text, "Subscription Date" date, "Website" text, "Notes" jsonb',
        lambda i: (i, f"CUS{i:05d}", f"Prénom{i}", f"Nom{i}", f"City {i % 9}", ("France", "Japan", "Chile")[i % 3],
                   dt.date(2020, 1, 1) + dt.timedelta(days=i * 5), f"https://example.com/{i}",
                   f'{{"visits": {i}, "vip": {str(i % 10 == 0).lower()}}}'),
    ),
}


# The Archive-IO sample payload, pointed at this stack: `postgres_default` is the demo database.
DEMO_CONF = {
    "glue_connection": "postgres_default",
    "legal_hold": False,
    "retention_policy": 6,
    "source_schema": SCHEMA,
    "source_table": [
        {"table_name": "products", "condition": "Index < 20",
         "query": f"SELECT * FROM {SCHEMA}.products WHERE Index < 20"},
        {"table_name": "leads", "condition": "Index < 50"},
        {"table_name": "customers"},
    ],
    "triggered_by": "Gokul",
    "triggered_by_email": "gokul@example.com",
}


def seed(dsn: str) -> dict[str, int]:
    """Create (or complete) the demo tables; returns rows per table."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        counts = {}
        for name, (columns, row) in TABLES.items():
            table = sql.Identifier(SCHEMA, name)
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + columns + ")").format(table))
            width = len(row(1))
            with conn.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {} VALUES ({}) ON CONFLICT DO NOTHING").format(
                    table, sql.SQL(", ").join(sql.Placeholder() * width)), [row(i) for i in range(1, ROWS + 1)])
            counts[name] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
    return counts


if __name__ == "__main__":
    print(seed(sys.argv[1]))

"""Lakehouse SQL files (Athena/Trino dialect) as statements either engine can run. Plain Python.

A file holds one statement. `load_statement` renders its `{{ ... }}` deployment names (a table's
location) and binds its `:name` parameters as SQL literals in the syntax tree, never by pasting
text. What the local engine (DuckDB + pyiceberg) needs is read from the same tree:

- `CREATE TABLE ... TBLPROPERTIES ('table_type' = 'ICEBERG')` → `IcebergTableDef` (pyiceberg
  schema, identity partitions, location);
- `MERGE INTO target USING source ON ... WHEN NOT MATCHED THEN INSERT` → `MergePlan` of kind
  "insert": the source rows no target row matches, appended;
- the same with `WHEN MATCHED THEN UPDATE SET` (an upsert: every updated column takes the value
  it would be inserted with) → kind "upsert": the partitions the source touches are replaced by
  their unmatched target rows plus the source rows;
- `SELECT` → run as is;
- `UNLOAD (SELECT ...) TO :location WITH (format = 'JSON', compression = 'GZIP', partitioned_by = ARRAY[...])`
  (sqlglot has no UNLOAD) → `Unload`: Athena writes the rows to S3, DuckDB's `COPY ... TO` does locally.

A file may `{% include '<family>/<file>.sql' %}` another: a query two statements share, or a
clause they share, in a file named `_<name>.sql` (not a statement of its own: never loaded alone).

Everything handed to DuckDB is translated by sqlglot (athena → duckdb).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import sqlglot
from sqlglot import exp

from archiveflow.paths import include_path

READ, WRITE = "athena", "duckdb"


class UnsupportedStatement(ValueError):
    """A statement the local engine cannot run with the same meaning as Athena."""


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.date | dt.datetime):
        return exp.Literal.string(value.isoformat())
    return exp.Literal.string(str(value))


def bind(tree: exp.Expression, parameters: Mapping[str, Any]) -> exp.Expression:
    """The tree with every `:name` placeholder replaced by the literal of `parameters[name]`."""
    names = {node.name for node in tree.find_all(exp.Placeholder)}
    if missing := sorted(names - set(parameters)):
        raise KeyError(f"the statement needs parameters {missing}; given {sorted(parameters)}")

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.In) and _list_placeholder(node, parameters):  # `x IN (:names)`: one literal each
            node.set("expressions", [_literal(value) for value in parameters[node.expressions[0].name]])
            return node
        return _literal(parameters[node.name]) if isinstance(node, exp.Placeholder) else node

    return tree.transform(replace)


def _list_placeholder(node: exp.In, parameters: Mapping[str, Any]) -> bool:
    values = node.expressions
    return (len(values) == 1 and isinstance(values[0], exp.Placeholder)
            and isinstance(parameters.get(values[0].name), list | tuple))


def render(sql_file: str, variables: Mapping[str, Any] | None = None) -> str:
    """`include/sql/<sql_file>`'s text with its `{{ ... }}` variables and `{% include %}`s rendered."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(include_path("sql")),
                                     undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.get_template(sql_file).render(**(variables or {}))


def load_statement(sql_file: str, parameters: Mapping[str, Any] | None = None,
                   variables: Mapping[str, str] | None = None) -> exp.Expression | Unload:
    """`include/sql/<sql_file>` rendered with `variables`, parsed as Athena SQL, parameters bound."""
    rendered = render(sql_file, variables)
    if unload := _UNLOAD.match(_without_comments(rendered)):
        options = {name.lower(): sqlglot.parse_one(value, read=READ)
                   for name, value in _UNLOAD_OPTION.findall(unload.group("options"))}
        return Unload(bind(sqlglot.parse_one(unload.group("query"), read=READ), parameters or {}),
                      bind(sqlglot.parse_one(unload.group("to"), read=READ), parameters or {}).name, options)
    return bind(sqlglot.parse_one(rendered, read=READ), parameters or {})


def athena_sql(tree: exp.Expression | Unload) -> str:
    if isinstance(tree, Unload):
        options = ", ".join(f"{name} = {value.sql(dialect=READ)}" for name, value in tree.options.items())
        return f"UNLOAD ({tree.query.sql(dialect=READ, pretty=True)})\nTO {_string(tree.location)}\nWITH ({options})"
    return tree.sql(dialect=READ, pretty=True)


def duckdb_sql(tree: exp.Expression | Unload) -> str:
    if isinstance(tree, Unload):
        return tree.duckdb_copy()
    return tree.sql(dialect=WRITE)


# --- UNLOAD → DuckDB's COPY ----------------------------------------------------------------------

_UNLOAD = re.compile(r"^\s*UNLOAD\s*\((?P<query>.*)\)\s*TO\s+(?P<to>\S+)\s+WITH\s*\((?P<options>.*)\)\s*;?\s*$",
                     re.IGNORECASE | re.DOTALL)
_UNLOAD_OPTION = re.compile(r"(\w+)\s*=\s*(ARRAY\s*\[[^\]]*\]|'[^']*')", re.IGNORECASE)
COPY_FORMATS = {"JSON": "json", "PARQUET": "parquet"}


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Unload:
    """`UNLOAD (query) TO location WITH (options)`: the query's rows written under ``location`` (an
    S3 folder), one folder per value of the ``partitioned_by`` columns (``bundle=3/``), as Athena does."""

    query: exp.Expression
    location: str
    options: dict[str, exp.Expression]

    def option(self, name: str, default: str = "") -> str:
        value = self.options.get(name)
        return value.name.upper() if value is not None else default

    def partitioned_by(self) -> list[str]:
        value = self.options.get("partitioned_by")
        return [item.name for item in value.expressions] if value is not None else []

    def duckdb_copy(self) -> str:
        file_format = self.option("format", "PARQUET")
        if file_format not in COPY_FORMATS:
            raise UnsupportedStatement(f"UNLOAD format {file_format} is not written locally ({sorted(COPY_FORMATS)})")
        options = [f"FORMAT {COPY_FORMATS[file_format]}"]
        if compression := self.option("compression"):
            options.append(f"COMPRESSION {compression.lower()}")
        if partitions := self.partitioned_by():
            options.append(f"PARTITION_BY ({', '.join(partitions)})")
        return f"COPY ({self.query.sql(dialect=WRITE)}) TO {_string(self.location)} ({', '.join(options)})"


# --- CREATE TABLE → an Iceberg table definition ------------------------------------------------

@dataclass(frozen=True)
class IcebergTableDef:
    name: str
    columns: tuple[tuple[str, str], ...]   # (name, SQL type) in order
    partition_by: tuple[str, ...]          # identity partitions
    location: str
    properties: dict[str, str]

    def schema(self):
        from pyiceberg.schema import Schema
        from pyiceberg.types import NestedField

        return Schema(*(NestedField(i, name, _iceberg_type(kind), required=False)
                        for i, (name, kind) in enumerate(self.columns, start=1)))

    def partition_spec(self):
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import IdentityTransform

        ids = {name: i for i, (name, _) in enumerate(self.columns, start=1)}
        return PartitionSpec(*(PartitionField(ids[name], 1000 + n, IdentityTransform(), name)
                               for n, name in enumerate(self.partition_by)))


def _iceberg_type(kind: str):
    from pyiceberg import types

    known = {"TEXT": types.StringType(), "VARCHAR": types.StringType(), "BIGINT": types.LongType(),
             "INT": types.IntegerType(), "DATE": types.DateType(), "TIMESTAMP": types.TimestampType(),
             "DOUBLE": types.DoubleType(), "BOOLEAN": types.BooleanType()}
    if kind not in known:
        raise UnsupportedStatement(f"column type {kind} has no Iceberg mapping here; known: {sorted(known)}")
    return known[kind]


def iceberg_table_def(create: exp.Expression) -> IcebergTableDef:
    if not isinstance(create, exp.Create) or create.kind != "TABLE":
        raise UnsupportedStatement("expected CREATE TABLE")
    schema = create.this
    columns = tuple((col.name, col.args["kind"].this.name) for col in schema.expressions)
    partition_by: tuple[str, ...] = ()
    location, properties = "", {}
    for prop in create.args["properties"].expressions:
        if isinstance(prop, exp.PartitionedByProperty):
            partition_by = tuple(node.name for node in prop.this.expressions)
        elif isinstance(prop, exp.LocationProperty):
            location = prop.this.name
        elif type(prop) is exp.Property:
            properties[prop.this.name] = prop.args["value"].name
    if properties.get("table_type", "").upper() != "ICEBERG":
        raise UnsupportedStatement(f"{schema.this.name} is not an Iceberg table (TBLPROPERTIES table_type)")
    return IcebergTableDef(schema.this.name, columns, partition_by, location, properties)


# --- MERGE → what DuckDB computes and how pyiceberg commits it ----------------------------------

@dataclass(frozen=True)
class MergePlan:
    target: str
    kind: str                  # "insert" | "upsert"
    columns: tuple[str, ...]   # the INSERT column list
    rows_sql: str              # DuckDB: the rows to write (insert: the new rows; upsert: from `source_rows`)
    partition_rows_sql: str    # upsert only: DuckDB, given `touched` (the partition values written), the
                               # target rows of those partitions the source does not replace
    source_sql: str            # upsert only: DuckDB, the MERGE's source, stored as `source_rows`


def _whens(merge: exp.Merge) -> tuple[exp.Insert, exp.Update | None]:
    insert = update = None
    for when in merge.args["whens"].expressions:
        then = when.args["then"]
        if not when.args.get("matched") and isinstance(then, exp.Insert):
            insert = then
        elif when.args.get("matched") and isinstance(then, exp.Update) and not when.args.get("condition"):
            update = then
        else:
            raise UnsupportedStatement(f"MERGE clause not supported locally: {when.sql(READ)}")
    if insert is None:
        raise UnsupportedStatement("MERGE without WHEN NOT MATCHED THEN INSERT")
    return insert, update


def _check_upsert(columns: list[str], values: list[exp.Expression], update: exp.Update) -> None:
    inserted = dict(zip(columns, values, strict=True))
    for assignment in update.expressions:
        column = assignment.this.name
        if column not in inserted or assignment.expression != inserted[column]:
            raise UnsupportedStatement(
                f"UPDATE SET {assignment.sql(READ)}: locally a matched row is replaced by the row it would be "
                f"inserted as, so each updated column must take its INSERT value")


def merge_plan(merge: exp.Expression, partition_by: tuple[str, ...] = ()) -> MergePlan:
    """`partition_by`: the target's identity partition columns (an upsert replaces whole partitions)."""
    if not isinstance(merge, exp.Merge):
        raise UnsupportedStatement("expected MERGE INTO")
    insert, update = _whens(merge)
    columns = [col.name for col in insert.this.expressions]
    values = list(insert.expression.expressions)
    target, source, on = merge.this, merge.args["using"], merge.args["on"]
    target_alias = target.alias_or_name
    target_ref = exp.to_table(target.name).as_(target_alias)
    select_new = exp.select(*(value.as_(name) for name, value in zip(columns, values, strict=True))).from_(source.copy())
    unmatched = exp.select("1").from_(target_ref.copy()).where(on.copy())
    if update is None:
        rows = select_new.where(exp.Not(this=exp.Exists(this=unmatched)))
        return MergePlan(target.name, "insert", tuple(columns), duckdb_sql(rows), "", "")
    _check_upsert(columns, values, update)
    if not partition_by:
        raise UnsupportedStatement(f"an upsert MERGE into the unpartitioned {target.name} is not supported locally")
    in_touched = exp.Tuple(expressions=[exp.column(p, target_alias) for p in partition_by]).isin(
        exp.select(*partition_by).from_("touched"))
    # The source is computed once, into the temporary table `source_rows`, and read twice.
    source_alias = source.alias_or_name
    stored = exp.to_table("source_rows").as_(source_alias)
    source_match = exp.select("1").from_(stored.copy()).where(on.copy())
    kept = (exp.select(exp.Star()).from_(target_ref.copy())
            .where(in_touched).where(exp.Not(this=exp.Exists(this=source_match))))
    new_rows = exp.select(*(value.as_(name) for name, value in zip(columns, values, strict=True))).from_(stored)
    source_query = source.this if isinstance(source, exp.Subquery) else exp.select(exp.Star()).from_(source.copy())
    return MergePlan(target.name, "upsert", tuple(columns), duckdb_sql(new_rows), duckdb_sql(kept),
                     duckdb_sql(source_query))

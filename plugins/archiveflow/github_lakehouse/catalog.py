"""The Bronze table's one definition, `include/sql/github_lakehouse/bronze_table.sql`, rendered
for a deployment, and the same definition as a Glue `TableInput` (for engines that cannot run
Athena DDL: the local stack). Plain Python."""

from __future__ import annotations

from typing import Any

import jinja2
import sqlglot
from sqlglot import exp

from archiveflow.github_lakehouse.bronze import PREFIX, TABLE
from archiveflow.paths import include_path

DDL_FILE = ("sql", "github_lakehouse", "bronze_table.sql")


def bronze_location(bucket: str) -> str:
    return f"s3://{bucket}/{PREFIX}"


def bronze_ddl(database: str, bucket: str) -> str:
    """The Athena DDL that creates the Bronze table (if it does not exist yet)."""
    template = jinja2.Template(include_path(*DDL_FILE).read_text(), undefined=jinja2.StrictUndefined)
    return template.render(database=database, location=bronze_location(bucket))


def _columns(schema: exp.Schema) -> list[dict[str, str]]:
    return [{"Name": column.name, "Type": column.args["kind"].sql(dialect="hive").lower()}
            for column in schema.expressions]


def _literal(node: exp.Expression) -> str:
    return node.this if isinstance(node, exp.Literal) else node.name


def glue_table_input(ddl: str) -> tuple[str, dict[str, Any]]:
    """(database, Glue TableInput) of a `CREATE EXTERNAL TABLE` statement."""
    create = sqlglot.parse_one(ddl, read="athena")
    table = create.this.this
    storage: dict[str, Any] = {"Columns": _columns(create.this), "Compressed": False}
    table_input: dict[str, Any] = {"Name": table.name, "TableType": "EXTERNAL_TABLE", "Parameters": {},
                                   "StorageDescriptor": storage}
    for prop in create.args["properties"].expressions:
        if isinstance(prop, exp.PartitionedByProperty):
            table_input["PartitionKeys"] = _columns(prop.this)
        elif isinstance(prop, exp.RowFormatSerdeProperty):
            storage["SerdeInfo"] = {"SerializationLibrary": _literal(prop.this)}
        elif isinstance(prop, exp.FileFormatProperty):
            storage["InputFormat"] = _literal(prop.this.args["input_format"])
            storage["OutputFormat"] = _literal(prop.this.args["output_format"])
        elif isinstance(prop, exp.LocationProperty):
            storage["Location"] = _literal(prop.this)
        elif type(prop) is exp.Property:  # TBLPROPERTIES; EXTERNAL is the table type above
            table_input["Parameters"][_literal(prop.this)] = _literal(prop.args["value"])
    table_input["Parameters"]["EXTERNAL"] = "TRUE"
    return table.db, table_input


def bronze_table_input(database: str, bucket: str) -> dict[str, Any]:
    found_database, table_input = glue_table_input(bronze_ddl(database, bucket))
    if (found_database, table_input["Name"]) != (database, TABLE):
        raise ValueError(f"{'/'.join(DDL_FILE)} creates {found_database}.{table_input['Name']}, not {database}.{TABLE}")
    return table_input

"""The deployment's configured list of tables to archive: the Airflow Variable
`dynamodb_archive_tables` (a JSON list of table names) when it is set, else the file
`include/dynamodb_archive/tables.yaml` (`tables: [...]`; `{prefix}` is the deployment's name prefix)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from archiveflow.errors import BadRequest

VARIABLE = "dynamodb_archive_tables"
TABLE_NAME = r"^[A-Za-z0-9_.-]{3,255}$"


def _checked(names: object, source: str) -> list[str]:
    if not isinstance(names, list) or not names:
        raise BadRequest("tables", "must be a non-empty list of table names", subject=source)
    for index, name in enumerate(names):
        if not isinstance(name, str) or not re.fullmatch(TABLE_NAME, name):
            raise BadRequest(f"tables[{index}]", f"{name!r} is not a DynamoDB table name", subject=source)
    return list(dict.fromkeys(names))


def tables_from_variable(value: str) -> list[str]:
    try:
        names = json.loads(value)
    except json.JSONDecodeError as err:
        raise BadRequest("tables", f"not JSON: {err}", subject=f"Variable {VARIABLE}") from None
    return _checked(names, f"Variable {VARIABLE}")


def tables_from_file(path: Path, prefix: str) -> list[str]:
    document = yaml.safe_load(path.read_text()) or {}
    names = [n.replace("{prefix}", prefix) if isinstance(n, str) else n for n in document.get("tables") or []]
    return _checked(names, str(path))

"""What every DAG's request module is made of: `Field`s (default, JSON schema, form title and
section, help text) and `check_fields`, which validates a conf exactly as Airflow validates the
DAG's Params (the same schemas, the same jsonschema validator), so a conf is refused by the
trigger (HTTP 400) exactly when the request module refuses it. Plain Python: the DAG turns the
same fields into Params with `archiveflow.params.dag_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from archiveflow.errors import BadRequest


@dataclass(frozen=True)
class Field:
    """One conf field. `section` is the title of the form section it shows in: each request module
    titles its own sections for its DAG (a restore's files are not "what to archive")."""

    default: Any
    schema: dict[str, Any]
    title: str
    description: str
    section: str


def check_fields(fields: Mapping[str, Field], conf: Mapping[str, Any]) -> dict[str, Any]:
    """Every field's value (the default where the conf has none), each checked against its schema.
    Raise BadRequest naming the first bad field (with its path inside lists and objects)."""
    values = {}
    for name, field in fields.items():
        value = conf.get(name, field.default)
        validator = jsonschema.validators.validator_for(field.schema)(
            field.schema, format_checker=jsonschema.FormatChecker())
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            raise BadRequest(name + where, error.message)
        values[name] = value
    return values


def unknown_fields(fields: Mapping[str, Field], conf: Mapping[str, Any]) -> list[str]:
    """Conf keys no field declares. Airflow accepts them (a DAG's params are open), so the request
    modules do too; the first task logs them, since one is usually a misspelt field."""
    return sorted(set(conf) - set(fields))

"""Stream records as archived: the full record in the seed's "Archive File Format" (what a Lambda
receives: `eventID`, `eventName`, `dynamodb.Keys`, `dynamodb.OldImage`, ...), as JSON.

boto3 hands a record over with binary values as bytes and `ApproximateCreationDateTime` as a
datetime; the archive holds them as the stream's JSON does: base64 text and epoch seconds.
`item_from_archive` turns an archived image back into the typed item `put_item` takes.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Mapping
from typing import Any

# A REMOVE made by Time to Live carries this identity; one made by a caller carries none.
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
ARCHIVEFLOW_FIELD = "archiveflow"
_NUMBERS = decimal.Context(prec=40)  # DynamoDB keeps 38 significant digits: enough never to round one


def is_remove(record: Mapping[str, Any]) -> bool:
    return record.get("eventName") == "REMOVE"


def removed_by_ttl(record: Mapping[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return all(identity.get(k) == v for k, v in TTL_IDENTITY.items())


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        seconds = value.timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_value(v) for v in value]
    return value


def archive_document(record: Mapping[str, Any], table: str, stream_arn: str, object_key: str) -> dict[str, Any]:
    """The archived JSON document: the stream record as-is (made JSON-safe) plus the stream it came
    from and an `archiveflow` block (table, object key, whether Time to Live removed the item)."""
    document = _json_value(record)
    document.setdefault("eventSourceARN", stream_arn)
    document[ARCHIVEFLOW_FIELD] = {
        "table": table,
        "objectKey": object_key,
        "removedBy": "ttl" if removed_by_ttl(record) else "delete",
    }
    return document


def archive_body(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode()


def deleted_at(document: Mapping[str, Any]) -> dt.datetime:
    """When the item was deleted (the record's ApproximateCreationDateTime), in UTC."""
    return dt.datetime.fromtimestamp(float(document["dynamodb"]["ApproximateCreationDateTime"]), dt.UTC)


def typed_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """An archived (JSON) attribute value as the typed value boto3's low-level client takes."""
    (kind, raw), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in raw]}
    if kind == "M":
        return {"M": item_from_archive(raw)}
    if kind == "L":
        return {"L": [typed_value(v) for v in raw]}
    return {kind: raw}


def item_from_archive(image: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: typed_value(value) for name, value in image.items()}


def normalized_number(number: Any) -> str:
    """A number as DynamoDB stores and returns it: `5.0` -> `5`, `1e16` -> `10000000000000000`,
    `-0` -> `0` (a float is taken by its shortest text, 0.1 -> `0.1`)."""
    value = decimal.Decimal(repr(number) if isinstance(number, float) else str(number))
    if value.is_zero():
        return "0"
    return format(value.normalize(_NUMBERS), "f")


def comparable(value: Mapping[str, Any]) -> tuple:
    """A typed value (`{"N": "5.0"}`, `{"SS": [...]}`) for equality: numbers as DynamoDB normalises
    them, sets in any order; an attribute merely named `SS` stays an attribute."""
    (kind, raw), = value.items()
    if kind == "N":
        return kind, normalized_number(raw)
    if kind == "NS":
        return kind, frozenset(normalized_number(v) for v in raw)
    if kind == "SS":
        return kind, frozenset(raw)
    if kind == "BS":
        return kind, frozenset(bytes(v) for v in raw)
    if kind == "B":
        return kind, bytes(raw)
    if kind == "M":
        return kind, comparable_item(raw)
    if kind == "L":
        return kind, tuple(comparable(v) for v in raw)
    return kind, raw


def comparable_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple]:
    return {name: comparable(value) for name, value in item.items()}

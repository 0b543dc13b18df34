"""Items of the `runs` DynamoDB table stay far under DynamoDB's 400 KB item limit whatever a run's
size: a list that grows with the run (files, tables, records, errors) is written as a JSON object in
the reports bucket, and the item keeps its length and where it is (`<name>_count`, `<name>_s3`).
Every family writes its run items through `put_run_item` (or `compact` for an update). Plain Python.

The object's key is fixed by the item's key and the attribute, so a retry rewrites the same object.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

DYNAMODB_ITEM_LIMIT = 400 * 1024
ITEM_BUDGET = 64 * 1024  # what a run item may take inline: far under the limit, whatever else is added
INLINE_LIST_BYTES = 4 * 1024  # a longer list goes to S3 even when the item would fit
KEYS = ("pk", "sk")


def encoded_size(value: Any) -> int:
    """Bytes of `value` as JSON: an upper bound of its DynamoDB size (names and values, UTF-8)."""
    return len(json.dumps(value, default=str).encode())


def list_key(item: dict, name: str) -> str:
    return "runs/" + "/".join(str(item[k]).replace("#", "/") for k in KEYS if k in item) + f"/{name}.json"


def compact(item: dict, s3, bucket: str, budget: int = ITEM_BUDGET) -> dict:
    """`item` with its long lists (and, while it is over `budget`, its biggest attributes) moved to
    S3. Raises ValueError when the item cannot get under `budget` (its keys alone are too big)."""
    compacted = dict(item)
    movable = sorted((name for name in item if name not in KEYS), key=lambda n: encoded_size(item[n]), reverse=True)
    for name in movable:
        value = item[name]
        long_list = isinstance(value, (list, tuple)) and encoded_size(value) > INLINE_LIST_BYTES
        if not long_list and encoded_size(compacted) <= budget:
            continue
        key = list_key(item, name)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(value, default=str).encode(),
                      ContentType="application/json")
        del compacted[name]
        if isinstance(value, (list, tuple, dict)):
            compacted[f"{name}_count"] = len(value)
        compacted[f"{name}_s3"] = f"s3://{bucket}/{key}"
    if encoded_size(compacted) > budget:
        raise ValueError(f"run item {compacted.get('pk')} is {encoded_size(compacted)} bytes with every attribute "
                         f"in S3; over {budget}")
    return compacted


def dynamodb_value(value: Any) -> Any:
    """DynamoDB takes Decimal, not float; datetimes and the like as strings."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def put_run_item(runs_table, s3, bucket: str, item: dict) -> dict:
    """Put one run item (long lists in S3); returns what was put."""
    stored = dynamodb_value(compact(item, s3, bucket))
    runs_table.put_item(Item=stored)
    return stored


def expand(s3, item: dict) -> dict:
    """`item` with every attribute `compact` moved to S3 read back in place."""
    expanded = dict(item)
    for name in [n[: -len("_s3")] for n in item if n.endswith("_s3")]:
        expanded[name] = read_list(s3, item, name)
        del expanded[f"{name}_s3"]
        expanded.pop(f"{name}_count", None)
    return expanded


def read_list(s3, item: dict, name: str) -> Any:
    """An attribute of a run item, inline or from S3."""
    if name in item:
        return item[name]
    bucket, key = item[f"{name}_s3"][5:].split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

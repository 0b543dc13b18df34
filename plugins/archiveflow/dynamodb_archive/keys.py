"""The S3 object key of an archived item: `<table>/<name1>_<value1>[_<name2>_<value2>].json`,
partition key first (the seed's `PK_USER#123_SK_PROFILE.json` stays exactly that).

Encoding, reversible (`decode_object_key`):
- every attribute name and string or number value is written as its UTF-8 text with these bytes
  percent-encoded (`%XX`, upper-case hex): `%` itself, `_` (the separator), `/`, `\\`, `~`, and
  control characters (U+0000-U+001F, U+007F-U+009F). `#`, spaces and letters of any script stay.
- a binary value is written as `~` followed by its bytes in lower-case hex (`~` never occurs
  unescaped otherwise).
- a key longer than S3's 1,024 bytes is cut (never inside an escape or a character) and ends with
  `~sha256-<first 32 hex digits of the SHA-256 of the full encoded name>`; the full key is always in
  the archived record (`dynamodb.Keys`), which is what a restore reads.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

MAX_KEY_BYTES = 1024
SUFFIX = ".json"
HASH_MARK = "~sha256-"
_ESCAPED = set("%_/\\~")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def escape(text: str) -> str:
    return "".join("".join(f"%{b:02X}" for b in c.encode()) if c in _ESCAPED or _is_control(c) else c
                   for c in text)


def unescape(text: str) -> str:
    out, pending = [], bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and _ESCAPE.match(text, i):
            pending.append(int(text[i + 1:i + 3], 16))
            i += 3
            continue
        if pending:
            out.append(pending.decode())
            pending.clear()
        out.append(text[i])
        i += 1
    out.append(pending.decode())
    return "".join(out)


def encode_value(value: Mapping[str, Any]) -> str:
    """One typed key value (`{"S": ...}`, `{"N": ...}`, `{"B": bytes}`) as object-key text."""
    (kind, raw), = value.items()
    if kind == "B":
        return "~" + bytes(raw).hex()
    if kind in ("S", "N"):
        return escape(str(raw))
    raise ValueError(f"a key attribute cannot be of type {kind}")


def object_key(table: str, key_names: Sequence[str], keys: Mapping[str, Mapping[str, Any]]) -> str:
    """The archive object key of the item with `keys` (typed values) in `table`; `key_names` is the
    table's key schema, partition key first."""
    name = "_".join(f"{escape(n)}_{encode_value(keys[n])}" for n in key_names)
    prefix = f"{table}/"
    if len((prefix + name + SUFFIX).encode()) <= MAX_KEY_BYTES:
        return prefix + name + SUFFIX
    digest = HASH_MARK + hashlib.sha256(name.encode()).hexdigest()[:32]
    room = MAX_KEY_BYTES - len((prefix + digest + SUFFIX).encode())
    return prefix + _cut(name, room) + digest + SUFFIX


def _cut(name: str, room: int) -> str:
    """The longest start of `name` within `room` UTF-8 bytes that ends on a whole escape."""
    kept = name.encode()[:room].decode(errors="ignore")
    tail = kept[-2:]
    if "%" in tail:  # a `%X` or `%` cut off from its hex digits
        kept = kept[:len(kept) - 2 + tail.index("%")]
    return kept


def decode_object_key(key: str, key_types: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """(table, {name: typed value}) from an object key; `key_types` is the table's attribute
    definitions (`{"PK": "S"}`). None when the key was hashed (too long to hold the whole key)."""
    table, _, name = key.rpartition("/")
    name = name.removesuffix(SUFFIX)
    if HASH_MARK in name:
        return None
    parts = name.split("_")
    if len(parts) % 2:
        raise ValueError(f"not an archive object key: {key!r}")
    keys = {}
    for attr, value in zip(parts[::2], parts[1::2], strict=True):
        attr = unescape(attr)
        keys[attr] = {"B": bytes.fromhex(value[1:])} if value.startswith("~") else {key_types[attr]: unescape(value)}
    return table, keys

"""Zip member names for S3 keys: safe by the zip spec and unique within one bundle.

S3 keys may hold anything; a zip member name that `unzip` extracts into one file of its own,
inside the target folder, on any file system, may not. So each key's name is:

- NFC-normalised (an NFD spelling of the same name is one file on macOS), with the UTF-8 flag set
  by the writer;
- split on ``/`` with empty and ``.`` segments dropped (no leading ``/``, no ``a//b``); a ``..``
  segment, backslashes and control characters are percent-encoded (``%2E%2E``, ``%5C``, ``%01``);
  a key with no segment left (``/``) is percent-encoded whole;
- then made unique within the bundle, compared case-insensitively: a name already taken, or
  that is also a folder of another member (``a`` next to ``a/b``, ``dir/`` holding bytes next to
  ``dir/x``), gets ``~N`` before its extension, with N the smallest number giving a name that is
  free and no other key's own.

Names depend only on the bundle's key list, so a retried bundle gets the same names. The index
keeps both the key and the member name: a restore always goes by the index, never by the name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import PurePosixPath

_ESCAPED = frozenset("\\") | frozenset(map(chr, range(32))) | {chr(127)}


def _percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def _segment(segment: str) -> str:
    if segment == "..":
        return _percent(segment)
    return "".join(_percent(c) if c in _ESCAPED else c for c in segment)


def safe_name(key: str) -> str:
    """The key as a zip member name, before uniqueness in its bundle is considered."""
    segments = [_segment(s) for s in unicodedata.normalize("NFC", key).split("/") if s not in ("", ".")]
    return "/".join(segments) or _percent(key)


def _folders(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _renamed(name: str, number: int) -> str:
    path = PurePosixPath(name)
    stem = path.name[: len(path.name) - len(path.suffix)] if path.stem else path.name
    return str(path.with_name(f"{stem}~{number}{path.name[len(stem):]}"))


def member_names(keys: Sequence[str]) -> list[str]:
    """One safe member name per key, unique in the bundle (case-insensitively), in the same order."""
    wanted = [safe_name(key) for key in keys]
    folders = {folder.casefold() for name in wanted for folder in _folders(name)}
    natural = {name.casefold() for name in wanted}
    taken: set[str] = set()
    names = []
    for name in wanted:
        chosen, number = name, 0
        while chosen.casefold() in taken or chosen.casefold() in folders or (number and chosen.casefold() in natural):
            number += 1
            chosen = _renamed(name, number)
        taken.add(chosen.casefold())
        names.append(chosen)
    return names

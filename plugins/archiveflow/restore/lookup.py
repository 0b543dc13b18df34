"""Where each requested file is archived: the one place that reads the archive index's layout
(`archiveflow.deep_archive.index`).

A full `bucket/key` is read by its newest item's key (batched); a bare file name through the
table's `by-project-file` index (newest items only), and must match exactly one archived object of
the project. Both fail, naming the conf field, before any paid request. The newest archive of a
file is taken unless a `version` is asked: its number (1 = the first archive of the file, by time)
or its version id (`{last_modified}#{etag}`, as the look-up log and the index show it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from archiveflow.deep_archive import index
from archiveflow.errors import BadRequest

BY_PROJECT_FILE = "by-project-file"


@dataclass(frozen=True)
class ArchivedFile:
    """One archived object and where its bytes are: a member of a zip bundle, or an object of its own."""

    source_bucket: str
    source_key: str
    archive_bucket: str
    archive_key: str
    archive_format: str  # "zip" or "object"
    storage_class: str
    size: int
    version: str
    member_name: str | None = None
    header_offset: int | None = None
    compressed_size: int | None = None
    crc32: int | None = None
    compression: str | None = None

    @property
    def source(self) -> str:
        return index.item_key(self.source_bucket, self.source_key)


def _archived(item: dict) -> ArchivedFile:
    def number(name: str) -> int | None:
        return int(item[name]) if name in item else None

    return ArchivedFile(
        source_bucket=item["source_bucket"], source_key=item["source_key"], archive_bucket=item["archive_bucket"],
        archive_key=item["archive_key"], archive_format=item["archive_format"], storage_class=item["storage_class"],
        size=int(item["size"]), version=item["version"], member_name=item.get("member_name"),
        header_offset=number("header_offset"), compressed_size=number("compressed_size"), crc32=number("crc32"),
        compression=item.get("compression"))


def _pick_version(dynamodb, table: str, newest: dict, version: int | str | None, name: str) -> dict:
    """The asked archive of one file: the newest item, or one of its version items."""
    if version is None:
        return newest
    ordered = index.versions(dynamodb, table, newest["source_bucket"], newest["source_key"])  # oldest first
    if isinstance(version, int):
        chosen = ordered[version - 1:version]
    else:
        chosen = [item for item in ordered if item["version"] == version]
    if not chosen:
        have = ", ".join(f"{i}: {item['version']}" for i, item in enumerate(ordered, 1))
        raise BadRequest("version", f"{name} has no archived version {version} (it has {have})")
    return chosen[0]


def _by_key(dynamodb, table: str, names: Sequence[str]) -> dict[str, list[dict]]:
    """Index items of full `bucket/key` names, 100 keys a request, retrying unprocessed keys."""
    found: dict[str, list[dict]] = {}
    keys = sorted(set(names))
    for start in range(0, len(keys), index.BATCH_GET):
        request = {table: {"Keys": [{"pk": k} for k in keys[start:start + index.BATCH_GET]], "ConsistentRead": True}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                found.setdefault(item["pk"], []).append(item)
            request = response.get("UnprocessedKeys") or None
    return found


def _by_name(table, project_name: str, name: str) -> dict[str, list[dict]]:
    """Index items of a bare file name in the project, grouped by source object."""
    found: dict[str, list[dict]] = {}
    query = {"IndexName": BY_PROJECT_FILE,
             "KeyConditionExpression": Key("project_name").eq(project_name) & Key("file_name").eq(name)}
    while True:
        page = table.query(**query)
        for item in page["Items"]:
            found.setdefault(item["pk"], []).append(item)
        if "LastEvaluatedKey" not in page:
            return found
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def locate(dynamodb, table_name: str, names: Sequence[str], fields: Sequence[str], *,
           project_name: str | None, version: int | str | None) -> list[ArchivedFile]:
    """The archived object of every name (each once); BadRequest names the field of an unknown or
    ambiguous one. `dynamodb` is a boto3 DynamoDB resource."""
    table = dynamodb.Table(table_name)
    keyed = _by_key(dynamodb, table_name, [n for n in names if "/" in n])
    located: dict[str, ArchivedFile] = {}
    for name, field in zip(names, fields, strict=True):
        matches = {name: keyed[name]} if name in keyed else {} if "/" in name else _by_name(table, project_name, name)
        if not matches:
            where = f"in project {project_name}" if "/" not in name else "in the archive index"
            raise BadRequest(field, f"{name} is not archived {where}")
        if len(matches) > 1:
            raise BadRequest(field, f"{name} matches {len(matches)} archived files; name one by its full key: "
                             + ", ".join(sorted(matches)))
        ((newest,),) = matches.values()
        archived = _archived(_pick_version(dynamodb, table_name, newest, version, name))
        located[archived.source] = archived
    return list(located.values())

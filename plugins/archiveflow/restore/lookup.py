"""Where each requested file is archived, in either index mode (`archiveflow.deep_archive.catalog.reader`):
the DynamoDB table (`archiveflow.deep_archive.index`) or the archive catalog through the `lakehouse_sql`
engine (`archiveflow.deep_archive.catalog`).

A full `bucket/key` is read by its key (batched: newest items, or catalog rows by partition and key);
a bare file name by the project and the name (DynamoDB's `by-project-file` index, or the catalog's
`file_name` column), and must match exactly one archived object of the project. Both fail, naming
the conf field, before any paid request. The newest archive of a file is taken unless a `version`
is asked: its number (1 = the first archive of the file, by time) or its version id
(`{last_modified}#{etag}`, as the look-up log and the index show it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archiveflow.deep_archive import catalog, index
from archiveflow.errors import BadRequest


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
    return ArchivedFile(
        source_bucket=item["source_bucket"], source_key=item["source_key"], archive_bucket=item["archive_bucket"],
        archive_key=item["archive_key"], archive_format=item["archive_format"], storage_class=item["storage_class"],
        size=int(item["size"]), version=item["version"], member_name=item.get("member_name"),
        header_offset=catalog.optional_int(item, "header_offset"),
        compressed_size=catalog.optional_int(item, "compressed_size"), crc32=catalog.optional_int(item, "crc32"),
        compression=item.get("compression"))


def _pick_version(ordered: list[dict], version: int | str | None, name: str) -> dict:
    """The asked archive of one file among its archived versions (oldest first): the newest unless asked."""
    if version is None:
        return ordered[-1]
    if isinstance(version, int):
        chosen = ordered[version - 1:version]
    else:
        chosen = [item for item in ordered if item["version"] == version]
    if not chosen:
        have = ", ".join(f"{i}: {item['version']}" for i, item in enumerate(ordered, 1))
        raise BadRequest("version", f"{name} has no archived version {version} (it has {have})")
    return chosen[0]


def locate(store, table_name: str | None, names: Sequence[str], fields: Sequence[str], *,
           project_name: str | None, version: int | str | None) -> list[ArchivedFile]:
    """The archived object of every name (each once); BadRequest names the field of an unknown or
    ambiguous one. ``store``: a boto3 DynamoDB resource and its index table ``table_name`` (the
    `dynamodb` index mode) or a `archiveflow.deep_archive.catalog.CatalogIndex` (the `catalog` mode)."""
    archive_index = catalog.reader(store, table_name)
    with_versions = version is not None
    keyed = archive_index.files([n for n in names if "/" in n], with_versions)
    located: dict[str, ArchivedFile] = {}
    for name, field in zip(names, fields, strict=True):
        if "/" in name:
            matches = {name: keyed[name]} if name in keyed else {}
        else:
            matches = archive_index.files_named(project_name, name, with_versions)
        if not matches:
            where = f"in project {project_name}" if "/" not in name else "in the archive index"
            raise BadRequest(field, f"{name} is not archived {where}")
        if len(matches) > 1:
            raise BadRequest(field, f"{name} matches {len(matches)} archived files; name one by its full key: "
                             + ", ".join(sorted(matches)))
        (ordered,) = matches.values()
        archived = _archived(_pick_version(ordered, version, name))
        located[archived.source] = archived
    return list(located.values())

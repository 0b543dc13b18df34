"""Both index modes on the local stack: packing writes the index the plan names (DynamoDB items, or
one commit per bundle to the Iceberg archive catalog), the planner's "already archived?" check and
the restore look-ups read it (the catalog through the lakehouse_sql engine: DuckDB here), and the
migration rebuilds either mode from the per-bundle index objects with the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from boto3.dynamodb.conditions import Attr

from archiveflow import resources
from archiveflow.deep_archive import catalog, index, worker
from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.request import parse_request
from archiveflow.errors import BadRequest
from archiveflow.restore import lookup
from devstack import template as cfn

pytestmark = pytest.mark.integration


@pytest.fixture(params=catalog.MODES)
def store(request, aws):
    """The index of one mode, as the plan, the worker and the look-up take it."""
    return aws.dynamodb if request.param == "dynamodb" else request.getfixturevalue("catalog_index")


def pack(aws, store, bucket: str, project: str, *, delete_source: bool = False) -> dict:
    request = parse_request(
        {"project_name": project, "bucket_name": bucket, "prefix": f"{project}/", "file_count": 2,
         "archive_size": 10, "output_prefix": f"tests/{project}", "storage_class": "STANDARD_IA",
         "delete_source": delete_source}, aws.archive)
    document = planner.plan(aws.s3, store, [request], plan_id=aws.unique(project), plan_bucket=aws.archive,
                            index_table=aws.index.name)
    for unit in document["units"]:
        worker.run_unit(aws.s3, store, document, unit)
    return document


def member(aws, archived: lookup.ArchivedFile) -> bytes:
    return aws.open_bundle(archived.archive_key).read(archived.member_name)


def catalog_rows(catalog_table, **equal) -> set[tuple[str, str, str]]:
    from pyiceberg.expressions import And, EqualTo

    terms = [EqualTo(name, value) for name, value in equal.items()]
    rows = catalog_table.refresh().scan(row_filter=terms[0] if len(terms) == 1 else And(*terms),
                                        selected_fields=("source_bucket", "source_key", "version")).to_arrow()
    return {(r["source_bucket"], r["source_key"], r["version"]) for r in rows.to_pylist()}


def dynamodb_rows(aws, table: str, project: str) -> set[tuple[str, str, str]]:
    items, start = [], {}
    while True:
        page = aws.dynamodb.Table(table).scan(
            FilterExpression=Attr("project_name").eq(project) & Attr("item_kind").eq(index.VERSION), **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return {(i["source_bucket"], i["source_key"], i["version"]) for i in items}
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def test_packing_and_restore_look_ups_hold_in_both_index_modes(aws, store):
    project = aws.unique("modes")
    other_bucket = aws.unique("second-source")
    aws.s3.create_bucket(Bucket=other_bucket)
    files = {f"{project}/a/report.csv": b"first version\n", f"{project}/a/b.txt": b"b\n",
             f"{project}/c/only-here.txt": b"unique name\n"}
    aws.upload(files)
    aws.upload({f"{project}/z/report.csv": b"same name, other bucket\n"}, bucket=other_bucket)

    first = pack(aws, store, aws.source, project)
    assert first["index_mode"] == catalog.reader(store, aws.index.name).mode
    assert first["totals"]["files"] == 3
    pack(aws, store, other_bucket, project, delete_source=True)
    assert aws.keys(other_bucket, f"{project}/") == []  # deleted: the index holds each file in its bundle

    time.sleep(1.1)  # S3's Last-Modified has 1 s resolution: the rewrite is a later version
    report = f"{project}/a/report.csv"
    aws.upload({report: b"second version\n"})
    second = pack(aws, store, aws.source, project)
    # the "already archived?" check: only the rewritten file is planned again
    assert (second["totals"]["files"], second["totals"]["indexed"], second["totals"]["rewritten"]) == (1, 2, 1)
    assert pack(aws, store, aws.source, project)["totals"]["files"] == 0

    def locate(names, version=None, project_name=project):
        return lookup.locate(store, aws.index.name, names, [f"files[{i}]" for i in range(len(names))],
                             project_name=project_name, version=version)

    (newest,) = locate([f"{aws.source}/{report}"])
    assert member(aws, newest) == b"second version\n"
    (oldest,) = locate([f"{aws.source}/{report}"], version=1)
    assert member(aws, oldest) == b"first version\n"
    assert locate([f"{aws.source}/{report}"], version=oldest.version)[0] == oldest
    with pytest.raises(BadRequest, match="no archived version 3") as refused:
        locate([f"{aws.source}/{report}"], version=3)
    assert refused.value.field == "version"

    (by_name,) = locate(["only-here.txt"])
    assert (by_name.source_bucket, by_name.source_key) == (aws.source, f"{project}/c/only-here.txt")
    assert member(aws, by_name) == b"unique name\n"
    with pytest.raises(BadRequest, match="matches 2 archived files") as ambiguous:
        locate(["b.txt", "report.csv"])  # in the project's two buckets
    assert ambiguous.value.field == "files[1]"
    with pytest.raises(BadRequest, match="is not archived") as missing:
        locate([f"{aws.source}/{project}/nowhere.txt"])
    assert missing.value.field == "files[0]"
    (elsewhere,) = locate([f"{other_bucket}/{project}/z/report.csv"])
    assert member(aws, elsewhere) == b"same name, other bucket\n"


def test_a_retried_unit_adds_no_catalog_row_twice(aws, catalog_index):
    project = aws.unique("retry")
    aws.upload({f"{project}/f{i}.txt": b"%d" % i for i in range(3)})
    document = pack(aws, catalog_index, aws.source, project)
    rows = catalog_rows(catalog_index.table(), project_name=project)
    assert len(rows) == 3
    unit = document["units"][0]
    # the worker died after its catalog commit, before the index object: the retry packs again
    aws.s3.delete_object(Bucket=unit["archive_bucket"], Key=unit["archive_key"] + index.INDEX_SUFFIX)
    worker.run_unit(aws.s3, catalog_index, document, unit)
    assert aws.s3.head_object(Bucket=unit["archive_bucket"], Key=unit["archive_key"] + index.INDEX_SUFFIX)
    scanned = catalog_index.table().refresh().scan(row_filter=f"project_name = '{project}'").to_arrow()
    assert scanned.num_rows == 3


def test_a_unit_committing_twice_at_once_adds_its_rows_once(aws, catalog_index, monkeypatch):
    """Two attempts of one unit at once (a job retried while its first attempt still runs): the first
    looks for the bundle's rows and finds none, the second commits them, then the first commits. Its
    commit is refused (the table changed since its look) and it looks again, instead of pyiceberg
    re-applying its append on the new snapshot (the rows twice)."""
    project = aws.unique("twice")
    moment = "2026-01-01T00:00:00+00:00"
    rows = [catalog.row({"source_bucket": aws.source, "source_key": f"{project}/f{i}.txt",
                         "version": f"{moment}#e{i}", "source_etag": f"e{i}", "source_last_modified": moment,
                         "size": 1, "project_name": project, "plan_id": project, "archive_bucket": aws.archive,
                         "archive_key": f"tests/{project}/bundle.zip", "archive_format": "zip",
                         "storage_class": "STANDARD_IA", "archived_at": moment}) for i in range(3)]
    first, second = (catalog_index.open_catalog().load_table(catalog_index.identifier) for _ in range(2))
    look, overtaken = catalog.bundle_rows, []

    def look_then_overtaken(table, *args):
        found = look(table, *args)
        if table is first and not overtaken:  # the other attempt commits between this look and its commit
            overtaken.append(catalog.append_bundle(second, rows))
        return found

    monkeypatch.setattr(catalog, "bundle_rows", look_then_overtaken)
    assert catalog.append_bundle(first, rows) is False
    assert overtaken == [True]
    assert catalog_rows(catalog_index.table(), project_name=project) == {
        (aws.source, f"{project}/f{i}.txt", f"{moment}#e{i}") for i in range(3)}
    assert catalog_index.table().refresh().scan(row_filter=f"project_name = '{project}'").to_arrow().num_rows == 3


def migrate(aws, *args: str) -> str:
    env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "archiveflow.deep_archive.migrate_index", *args],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_migration_both_ways_keeps_the_same_bucket_key_version_rows(aws, catalog_index, catalog):
    # dynamodb -> catalog: a project indexed in DynamoDB, one file in two versions
    project = aws.unique("to-catalog")
    aws.upload({f"{project}/x{i}.txt": b"x%d" % i for i in range(3)})
    pack(aws, aws.dynamodb, aws.source, project)
    time.sleep(1.1)
    aws.upload({f"{project}/x0.txt": b"rewritten"})
    pack(aws, aws.dynamodb, aws.source, project)
    expected = dynamodb_rows(aws, aws.index.name, project)
    assert len(expected) == 4
    target = f"{resources.glue_database('archive')}.{aws.unique('migrated').replace('-', '_')}"
    out = migrate(aws, "--to", "catalog", "--catalog-table", target, "--prefix", f"tests/{project}/")
    assert "4 files indexed in the catalog mode" in out
    assert catalog_rows(catalog.load_table(target), project_name=project) == expected
    migrate(aws, "--to", "catalog", "--catalog-table", target, "--prefix", f"tests/{project}/")  # again: no row twice
    assert catalog.load_table(target).scan(row_filter=f"project_name = '{project}'").to_arrow().num_rows == 4

    # catalog -> dynamodb: a project indexed in the catalog, into an empty DynamoDB table
    project = aws.unique("to-dynamodb")
    aws.upload({f"{project}/y{i}.txt": b"y%d" % i for i in range(3)})
    pack(aws, catalog_index, aws.source, project)
    time.sleep(1.1)
    aws.upload({f"{project}/y2.txt": b"rewritten"})
    pack(aws, catalog_index, aws.source, project)
    expected = catalog_rows(catalog_index.table(), project_name=project)
    assert len(expected) == 4
    table = aws.unique("migrated-index")
    declared = cfn.raw()["Resources"]["ArchiveIndexTable"]["Properties"]  # the index as the template creates it
    aws.dynamodb.meta.client.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST", KeySchema=declared["KeySchema"],
        AttributeDefinitions=declared["AttributeDefinitions"], GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"])
    out = migrate(aws, "--to", "dynamodb", "--table", table, "--prefix", f"tests/{project}/")
    assert "4 files indexed in the dynamodb mode" in out
    assert dynamodb_rows(aws, table, project) == expected
    (restored,) = lookup.locate(aws.dynamodb, table, [f"{aws.source}/{project}/y2.txt"], ["files[0]"],
                                project_name=None, version=None)
    assert member(aws, restored) == b"rewritten"

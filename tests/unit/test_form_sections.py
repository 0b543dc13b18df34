"""Each DAG's trigger form titles its own sections: no shared list puts a restore's files under
"What to archive"."""

from __future__ import annotations

import pytest

from archiveflow import request_fields
from archiveflow.deep_archive import request as deep_archive
from archiveflow.dynamodb_archive import redrive_request as dynamodb_redrive
from archiveflow.dynamodb_archive import request as dynamodb_archive
from archiveflow.dynamodb_archive import restore_request as dynamodb_restore
from archiveflow.github_lakehouse import request as github
from archiveflow.rdbms_archival import request as rdbms_archival
from archiveflow.restore import request as s3_restore
from archiveflow.sensor_data import mock_request as sensor_mock
from archiveflow.sensor_data import request as sensor_pipeline
from archiveflow.stack_check import request as stack_check

RESTORING = [s3_restore, dynamodb_restore]
ALL = [deep_archive, dynamodb_archive, dynamodb_redrive, dynamodb_restore, github, rdbms_archival, s3_restore, sensor_mock,
       sensor_pipeline, stack_check]


def sections(module) -> set[str]:
    fields = getattr(module, "FIELDS", None) or {n: f for fs in vars(module).values() if isinstance(fs, dict)
                                                 for n, f in fs.items() if isinstance(f, request_fields.Field)}
    return {field.section for field in fields.values()}


def test_the_restore_form_shows_its_files_under_its_own_title():
    assert s3_restore.FIELDS["filename"].section == s3_restore.FIELDS["files"].section == "Files to restore"


@pytest.mark.parametrize("module", RESTORING, ids=lambda m: m.__name__)
def test_no_restore_form_has_an_archiving_section(module):
    assert not any("archive" in title.lower() and "archived" not in title.lower() for title in sections(module)), \
        sections(module)


@pytest.mark.parametrize("module", ALL, ids=lambda m: m.__name__)
def test_every_family_titles_its_sections_itself(module):
    own = {value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)}
    assert sections(module) and sections(module) <= own
    assert not any(isinstance(getattr(request_fields, name, None), str)
                   for name in ("SOURCE", "WHAT", "DESTINATION", "SAFETY", "WHO", "CONNECTIONS"))

"""The packing worker's image holds what its entry point imports, from one generated list."""

from __future__ import annotations

import pytest

from deploy import pack_worker
from deploy.pack_worker import DOCKERFILE, dockerfile, worker_image


def test_committed_dockerfile_is_the_generated_one():
    assert DOCKERFILE.read_text() == dockerfile(), "run `make pack-worker-dockerfile`"


def test_image_has_every_module_the_worker_needs():
    files, distributions = worker_image()
    names = {str(p.relative_to(pack_worker.PLUGINS)) for p in files}
    assert {"archiveflow/__init__.py", "archiveflow/deep_archive/worker.py", "archiveflow/units.py",
            "archiveflow/errors.py", "archiveflow/failpoints.py"} <= names
    assert not any(name.startswith(("archiveflow/operators", "archiveflow/hooks")) for name in names)  # no Airflow
    # deflate: the compressor; pyiceberg (+ sqlglot, jinja2 of its table definition): the catalog index mode
    assert distributions == ["boto3", "deflate", "jinja2", "pyiceberg[glue,pyarrow]", "sqlglot"]


def test_an_import_the_image_lacks_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "archiveflow" / "deep_archive"
    package.mkdir(parents=True)
    (tmp_path / "archiveflow" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "worker.py").write_text("import json\nfrom archiveflow.deep_archive import helper\n")
    (package / "helper.py").write_text("import pandas\n")
    monkeypatch.setattr(pack_worker, "PLUGINS", tmp_path)
    monkeypatch.setattr(pack_worker, "REPO", tmp_path)
    with pytest.raises(ValueError, match=r"helper.py imports pandas"):
        worker_image()

"""The packing worker's image, without Docker: the files deploy/pack_worker.py lists (the same list
the Dockerfile copies) in a clean virtualenv with only the image's distributions, running the Batch
job definition's command against the emulator on one small bundle."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tests.integration.deep_archive.test_worker import make_plan

from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.index import INDEX_SUFFIX
from deploy.constraints import CONSTRAINTS
from deploy.pack_worker import PLUGINS, worker_image
from devstack import template as cfn
from devstack.stack import VENV_BIN

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(the image's /app, its python): a venv with nothing but the image's distributions."""
    root = tmp_path_factory.mktemp("pack-worker")
    files, distributions = worker_image()
    for path in files:
        target = root / "app" / path.relative_to(PLUGINS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    subprocess.run([str(VENV_BIN / "python"), "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([str(VENV_BIN / "uv"), "pip", "install", "--quiet", "--python", str(python),
                    "--constraint", str(CONSTRAINTS), *distributions], check=True, timeout=300)
    return root / "app", python


def test_the_job_command_packs_a_bundle_in_the_image(image, aws):
    app, python = image
    prefix = aws.unique("image") + "/"
    files = {f"{prefix}f{i}.txt": b"x" * i for i in range(1, 6)}
    document = make_plan(aws, files, prefix)
    (unit,) = document["units"]
    command = cfn.raw()["Resources"]["PackBundleJobDefinition"]["Properties"]["ContainerProperties"]["Command"]
    assert command[0] == "python"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(app),  # the Dockerfile's ENV
           "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1",
           "ARCHIVEFLOW_PLAN": f"s3://{aws.archive}/{planner.plan_key(document['plan_id'])}"}

    clean = subprocess.run([str(python), "-c", "import airflow"], env=env, cwd=app, capture_output=True, text=True)
    assert "No module named 'airflow'" in clean.stderr  # nothing of the .venv leaks in
    result = subprocess.run([str(python), *command[1:]], env=env, cwd=app, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    key = unit["archive_key"]
    assert sorted(aws.keys(aws.archive, f"tests/{prefix}")) == [key, key + INDEX_SUFFIX]
    with aws.open_bundle(key) as bundle:
        assert {name: bundle.read(name) for name in bundle.namelist()} == files

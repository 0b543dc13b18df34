"""The MWAA bundle's artifacts, as MWAA reads them (the DAGs running from it: tests/integration/mwaa)."""

from __future__ import annotations

import re
import subprocess
import zipfile

import pytest

from deploy import bundle as bundle_module
from deploy.bundle import MWAA_DAGS_FOLDER, build
from deploy.constraints import CONSTRAINTS, REPO, REQUIREMENTS, requirement_lines

# MWAA's protected variables: images/airflow/3.3.1/python/mwaa/config/setup_environment.py
# (_is_protected_os_environ) of aws/amazon-mwaa-docker-images, read 2026-12-03.
MWAA_PROTECTED = {
    "AIRFLOW_ENV_ID", "AIRFLOW_ENV_NAME", "AIRFLOW_HOME", "AIRFLOW_TASK_REVISION_ID", "AIRFLOW_VERSION",
    "AIRFLOW__AWS_MWAA__REDIRECT_URL", "JWT_PUBLIC_KEY", "AIRFLOW__WEBSERVER__BASE_URL", "AIRFLOW__API__BASE_URL",
    "AWS_DEFAULT_REGION", "AWS_REGION", "CUSTOMER_ACCOUNT_ID", "ECS_AGENT_URI", "ECS_CONTAINER_METADATA_URI",
    "ECS_CONTAINER_METADATA_URI_V4", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EXECUTION_ENV", "PYTHONPATH",
    "PYTHONUNBUFFERED", "WATCHTOWER_VERSION", "USE_NON_CRITICAL_LOGGING", "AIRFLOW__CORE__DATABASE_ACCESS_ISOLATION",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build(tmp_path_factory.mktemp("bundle") / "mwaa")


def test_requirements_name_the_constraints_file_mwaa_will_find(bundle):
    lines = bundle.requirements.read_text().splitlines()
    constraint_lines = [line for line in lines if re.search(r"-c |--constraint ", line)]  # MWAA's own test
    assert constraint_lines == [f'--constraint "{MWAA_DAGS_FOLDER}/constraints.txt"']
    assert (bundle.dags / "constraints.txt").read_text() == CONSTRAINTS.read_text()
    assert [line for line in lines if line and not line.startswith(("#", "-"))] == requirement_lines(REQUIREMENTS)


def test_dags_prefix_holds_every_dag_file_and_include(bundle):
    assert sorted(p.name for p in bundle.dags.glob("*.py")) == sorted(p.name for p in (REPO / "dags").glob("*.py"))
    include = sorted(str(p.relative_to(REPO)) for p in (REPO / "include").rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(bundle.dags)) for p in (bundle.dags / "include").rglob("*") if p.is_file()) == include
    assert not list(bundle.root.rglob("__pycache__"))


def test_plugins_zip_holds_plugins_at_its_root_and_is_reproducible(bundle, tmp_path):
    expected = sorted(str(p.relative_to(REPO / "plugins")) for p in (REPO / "plugins").rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == expected
    assert "archiveflow_plugin.py" in expected and "archiveflow/units.py" in expected
    again = build(tmp_path / "again")
    assert again.plugins_zip.read_bytes() == bundle.plugins_zip.read_bytes()  # same plugins/, same object


def test_startup_script_sets_no_protected_variable_and_is_quick(bundle, tmp_path):
    script = f'env -0 > {tmp_path}/before; source "{bundle.startup_script}"; env -0 > {tmp_path}/after'
    subprocess.run(["env", "-i", "AIRFLOW_HOME=/usr/local/airflow", "bash", "-euc", script], check=True, timeout=30)

    def variables(name):
        return dict(item.split("=", 1) for item in (tmp_path / name).read_text().split("\0") if "=" in item)

    before, after = variables("before"), variables("after")
    changed = {k for k, v in after.items() if before.get(k) != v} - {"_", "SHLVL"}
    assert changed == {"ARCHIVEFLOW_INCLUDE_DIR"}
    assert not {k for k in changed if k.startswith("MWAA__") or k in MWAA_PROTECTED}
    assert after["ARCHIVEFLOW_INCLUDE_DIR"] == "/usr/local/airflow/dags/include"


def test_with_wheels_installs_from_plugins_zip_only(tmp_path, monkeypatch):
    def fake_download(folder):
        (folder / "boto3-1.0-py3-none-any.whl").write_bytes(b"wheel")

    monkeypatch.setattr(bundle_module, "download_wheels", fake_download)
    built = build(tmp_path / "mwaa", with_wheels=True)
    lines = built.requirements.read_text().splitlines()
    assert {"--no-index", "--find-links /usr/local/airflow/plugins/wheels"} <= set(lines)
    with zipfile.ZipFile(built.plugins_zip) as archive:
        assert archive.getinfo("wheels/boto3-1.0-py3-none-any.whl").compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize(("source", "wheels"), [("plugins-zip-wheels", True), ("pypi-through-nat", False), (None, False)])
def test_the_deploy_packs_wheels_when_the_stack_says_its_subnets_have_no_pypi(source, wheels):
    from deploy.to_mwaa import Deployment

    outputs = [{"OutputKey": "PythonPackageSource", "OutputValue": source}] if source else []
    assert Deployment("stack", None, None, None).packs_wheels({"Outputs": outputs}) is wheels

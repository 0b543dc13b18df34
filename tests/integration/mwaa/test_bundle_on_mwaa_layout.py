"""The bundle, not the checkout: plugins.zip and the dags prefix unpacked into an MWAA-like
AIRFLOW_HOME (dags/, plugins/), the repository's plugins/ off sys.path, then the DAG integrity
checks, the include/ lookups and a `dags test` of archiveflow_stack_check on the local stack, all
in one fresh interpreter (what `airflow dags test` does: parse the folder, `dag.test()`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from deploy.bundle import build
from deploy.constraints import REPO
from devstack import stack

pytestmark = pytest.mark.integration

PROBE = textwrap.dedent("""
    import importlib, json, os, pkgutil, sys
    from pathlib import Path
    import airflow  # puts the dags and plugins folders on sys.path, as in every MWAA component
    import archiveflow
    from airflow.dag_processing.dagbag import DagBag
    from archiveflow.paths import include_path, sql_folder

    home = Path(os.environ["AIRFLOW_HOME"])
    modules = sorted(m.name for m in pkgutil.walk_packages(archiveflow.__path__, "archiveflow."))
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:
            failed[name] = repr(error)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    include = home / "dags" / "include"
    run = bag.dags["archiveflow_stack_check"].test()
    print(json.dumps({
        "stack_check": {"state": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}},
        "archiveflow": archiveflow.__file__,
        "checkout_on_path": [p for p in sys.path if p and Path(p).resolve() in
                             {Path(os.environ["REPO"]) / f for f in ("", "plugins", "dags", "include")}],
        "module_errors": failed,
        "import_errors": {k: v[-500:] for k, v in bag.import_errors.items()},
        "dag_files": sorted({Path(d.fileloc).name for d in bag.dags.values()}),
        "undocumented": sorted(i for i, d in bag.dags.items() if not (d.doc_md or "").strip()),
        "include": {str(p.relative_to(include)): str(include_path(*p.relative_to(include).parts))
                    for p in include.rglob("*") if p.is_file()},
        "sql_folder": sql_folder(),
    }))
""")


@pytest.fixture(scope="module")
def mwaa_home(tmp_path_factory):
    """AIRFLOW_HOME laid out as MWAA does it, from a freshly built bundle."""
    root = tmp_path_factory.mktemp("mwaa")
    bundle = build(root / "bundle")
    home = root / "airflow"
    shutil.copytree(bundle.dags, home / "dags")
    with zipfile.ZipFile(bundle.plugins_zip) as archive:
        archive.extractall(home / "plugins")
    return home, bundle


def bundle_env(home, bundle, local_stack) -> dict[str, str]:
    """The local stack's connections, MWAA's folders, what startup.sh exports; nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ARCHIVEFLOW", "PYTHON"))}
    env.update(stack.connection_env(local_stack.config))
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                "AIRFLOW__CORE__FERNET_KEY": os.environ.get("AIRFLOW__CORE__FERNET_KEY", ""), "REPO": str(REPO)})
    exported = subprocess.run(["bash", "-c", f'source "{bundle.startup_script}" >/dev/null && env -0'],
                              env=env, capture_output=True, text=True, check=True).stdout
    return dict(item.split("=", 1) for item in exported.split("\0") if "=" in item)


@pytest.fixture(scope="module")
def report(mwaa_home, local_stack, airflow_db):
    home, bundle = mwaa_home
    result = subprocess.run([sys.executable, "-c", PROBE], env=bundle_env(home, bundle, local_stack), cwd=home,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_dags_plugins_and_include_work_from_the_bundle_alone(mwaa_home, report):
    home, _ = mwaa_home
    assert report["archiveflow"] == str(home / "plugins" / "archiveflow" / "__init__.py")
    assert report["checkout_on_path"] == []
    assert report["module_errors"] == {}
    assert report["import_errors"] == {}
    assert report["dag_files"] == sorted(p.name for p in (REPO / "dags").glob("*.py"))
    assert report["undocumented"] == []
    include = home / "dags" / "include"
    assert report["include"] and all(found == str(include / name) for name, found in report["include"].items())
    assert report["sql_folder"] == str(include / "sql")


def test_stack_check_runs_from_the_bundle_on_the_local_stack(report):
    assert report["stack_check"]["state"] == "success", report["stack_check"]
    assert set(report["stack_check"]["tasks"].values()) == {"success"} and len(report["stack_check"]["tasks"]) == 8

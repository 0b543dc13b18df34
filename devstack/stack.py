"""Start, stop and describe the local stack. One `StackConfig` per instance: `make up` uses
the default one; the test suite uses its own ports, folder and databases so both can run at
once."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack import postgres
from devstack.processes import ManagedProcess, ensure_port_free, tail, wait_for_http
from devstack.provision import provision

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
GITHUB_SOURCES = ("gharchive", "github-api")
REGION = "us-east-1"
USERS = {"admin": "admin", "viewer": "viewer"}  # user -> role (SimpleAuthManager); each one's password is its name


@dataclass(frozen=True)
class StackConfig:
    home: Path                  # pids, logs, AIRFLOW_HOME live here
    moto_port: int
    api_port: int
    source_database: str        # postgres_default: the database rdbms_archival archives from
    airflow_database: str       # Airflow's metadata database
    gharchive_port: int = 5065  # gharchive_default: `python -m http.server` over `gharchive_dir`
    github_api_port: int = 5066  # github_events_api_default: devstack.github_events_api
    test_stack: bool = False    # the test suite's: Airflow with test_airflow_settings()

    @classmethod
    def default(cls) -> StackConfig:
        return cls(REPO / ".stack", 5055, 8080, "archiveflow_demo", "archiveflow_airflow")

    @classmethod
    def for_tests(cls) -> StackConfig:
        """The test suite's own stack. ARCHIVEFLOW_TEST_STACK=N (1-99) gives a second checkout its
        own ports, folder and databases, so two suites can run on one machine at once."""
        n = int(os.environ.get("ARCHIVEFLOW_TEST_STACK", "0"))
        suffix = f"_{n}" if n else ""
        return cls(REPO / ".stack" / f"test{suffix}", 5155 + n, 8181 + n,
                   f"archiveflow_test{suffix}", f"archiveflow_airflow_test{suffix}", 5365 + n, 5465 + n,
                   test_stack=True)

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def boto_args(self) -> dict[str, str]:
        """boto3 client/resource arguments for this stack's emulator (dummy credentials)."""
        return {"endpoint_url": self.aws_endpoint, "region_name": REGION,
                "aws_access_key_id": "test", "aws_secret_access_key": "test"}

    @property
    def gharchive_dir(self) -> Path:
        """The GH Archive hours the local `gharchive_default` serves (devstack.gharchive writes them)."""
        return self.home / "gharchive"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.home / "run", self.home / "logs")


def connection_env(config: StackConfig) -> dict[str, str]:
    """Connections and AWS settings: the only thing that differs from an MWAA deployment."""
    # No container can run here: the Batch hook runs each job's own command in a subprocess
    # (hooks/batch.py). Same job definitions and submission as on AWS.
    aws = {"conn_type": "aws", "login": "test", "password": "test",
           "extra": {"endpoint_url": config.aws_endpoint, "region_name": REGION,
                     "service_config": {"batch": {"local_runner": "subprocess"}}}}
    pg = {"conn_type": "postgres", "host": postgres.PG_HOST, "port": postgres.PG_PORT,
          "login": postgres.PG_USER, "schema": config.source_database}
    lakehouse_sql = {"conn_type": "generic", "extra": {"engine": "duckdb", "aws_conn_id": "aws_default"}}
    # GH Archive and the GitHub Events API: loopback servers of generated events (start_github_sources).
    gharchive = {"conn_type": "http", "host": "127.0.0.1", "port": config.gharchive_port, "schema": "http"}
    github_api = {"conn_type": "http", "host": "127.0.0.1", "port": config.github_api_port, "schema": "http"}
    return {
        "AIRFLOW_CONN_GHARCHIVE_DEFAULT": json.dumps(gharchive),
        "AIRFLOW_CONN_GITHUB_EVENTS_API_DEFAULT": json.dumps(github_api),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
        "AIRFLOW_CONN_POSTGRES_DEFAULT": json.dumps(pg),
        "AIRFLOW_CONN_LAKEHOUSE_SQL": json.dumps(lakehouse_sql),
        # Dummy credentials: anything that bypasses the connection fails instead of reaching AWS.
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
    }


# The test stack's Airflow: no DAG file changes during a session, so a file is parsed once, not
# every 30 s (each parse imports the DAG's modules: CPU the tests running beside it need).
def airflow_env(config: StackConfig) -> dict[str, str]:
    home = config.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        # `viewer` sees everything and changes nothing (the archive page's browser test logs in as both).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json.generated"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{config.api_url}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": _persistent_secret(config, "fernet_key", fernet=True),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(config.airflow_database),
        "AIRFLOW__API__BASE_URL": config.api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": _persistent_secret(config, "jwt_secret"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(config.home / "logs" / "tasks"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(config.home / "logs" / "dag-processor"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # The emulator restores at once: the archive page's restores check every few seconds, not 10 minutes.
        "AIRFLOW__ARCHIVEFLOW__ARCHIVE_PAGE_POLL_INTERVAL": "3",
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        **(test_airflow_settings(config) if config.test_stack else {}),
    }


def test_airflow_settings(config: StackConfig) -> dict[str, str]:
    """The test stack's Airflow: for the faults injected through it (tests/faults/test_through_airflow.py),
    failpoints armed by a file, a retried try 2 s after the failure instead of the DAG's retry_delay,
    and a task whose supervisor died with the scheduler's LocalExecutor failed (then retried) after
    60 s without a heartbeat instead of 300 (the supervisor beats every 5 s); DAG files parsed again
    every 10 min, not 30 s (the tests don't edit them: a re-parse only takes CPU from the tests)."""
    from archiveflow.failpoints import DIRECTORY_VARIABLE, RETRY_DELAY_VARIABLE

    return {DIRECTORY_VARIABLE: str(config.home / "failpoints"), RETRY_DELAY_VARIABLE: "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600"}


def sqlalchemy_url(database: str) -> str:
    return postgres.dsn(database).replace("postgresql://", "postgresql+psycopg2://")


def full_env(config: StackConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base or {})
    env.update(connection_env(config))
    env.update(airflow_env(config))
    return env


def _persistent_secret(config: StackConfig, name: str, fernet: bool = False) -> str:
    path = config.home / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if fernet:
            from cryptography.fernet import Fernet

            value = Fernet.generate_key().decode()
        else:
            value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
    return path.read_text().strip()


# --- the pieces -------------------------------------------------------------------------------

def start_postgres(config: StackConfig) -> None:
    postgres.ensure_running()
    postgres.ensure_database(config.source_database)
    postgres.ensure_database(config.airflow_database)


def start_aws(config: StackConfig) -> None:
    moto = config.process("moto")
    if moto.pid() is None:
        ensure_port_free(config.moto_port, "the AWS emulator")
    moto.start([sys.executable, "-m", "devstack.moto_server", "-H", "127.0.0.1", "-p", str(config.moto_port)],
               env=base_env(), cwd=REPO)
    wait_for_http(f"{config.aws_endpoint}/moto-api/", 60, "AWS emulator (moto)", moto)
    provision(config.aws_endpoint, REGION)


def start_github_sources(config: StackConfig) -> None:
    """GH Archive hours served by plain `python -m http.server`, and the fake Events API."""
    config.gharchive_dir.mkdir(parents=True, exist_ok=True)
    servers = {
        "gharchive": (config.gharchive_port, ["-m", "http.server", "--bind", "127.0.0.1",
                                              "--directory", str(config.gharchive_dir), str(config.gharchive_port)]),
        "github-api": (config.github_api_port, ["-m", "devstack.github_events_api", "--port", str(config.github_api_port)]),
    }
    for name, (port, args) in servers.items():
        process = config.process(name)
        if process.pid() is None:
            ensure_port_free(port, f"the {name} server")
        process.start([sys.executable, *args], env={**base_env(), "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}, cwd=REPO)
        url = f"http://127.0.0.1:{port}/" + ("_control/published" if name == "github-api" else "")
        wait_for_http(url, 30, f"the {name} server", process)


def start_airflow(config: StackConfig) -> None:
    env = full_env(config, base_env())
    home = config.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({user: user for user in USERS}))
    if all(config.process(c).pid() is None for c in AIRFLOW_COMPONENTS):
        ensure_port_free(config.api_port, "the Airflow api-server")
        migrate_airflow_db(config)
    for component in AIRFLOW_COMPONENTS:
        argv = [str(VENV_BIN / "airflow"), component]
        if component == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(config.api_port)]
        config.process(component).start(argv, env=env, cwd=REPO)
    wait_for_http(f"{config.api_url}/api/v2/monitor/health", 180, "Airflow api-server", config.process("api-server"))
    _wait_healthy(config)


def migrate_airflow_db(config: StackConfig) -> None:
    postgres.ensure_database(config.airflow_database)
    run_logged([str(VENV_BIN / "airflow"), "db", "migrate"], full_env(config, base_env()),
                config.process("db-migrate").log_file)


def _wait_healthy(config: StackConfig, timeout: float = 180) -> None:
    import time

    import requests

    deadline = time.monotonic() + timeout
    while True:
        health = requests.get(f"{config.api_url}/api/v2/monitor/health", timeout=10).json()
        unhealthy = [name for name in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                     if (health.get(name) or {}).get("status") != "healthy"]
        if not unhealthy:
            return
        for component in AIRFLOW_COMPONENTS:
            process = config.process(component)
            if process.pid() is None:
                raise RuntimeError(f"Airflow {component} exited; see {process.log_file}:\n{tail(process.log_file)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Airflow components not healthy after {timeout:.0f}s: {unhealthy}")
        time.sleep(2)


def run_logged(argv: list[str], env: dict[str, str], log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        result = subprocess.run(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed; see {log_file}:\n{tail(log_file)}")


def base_env() -> dict[str, str]:
    """This process's environment without Airflow or AWS settings (the stack sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}


# --- the commands -----------------------------------------------------------------------------

def up(config: StackConfig, airflow: bool = True) -> None:
    start_postgres(config)
    start_aws(config)
    start_github_sources(config)
    seed_demo_data(config)
    if airflow:
        start_airflow(config)


def seed_demo_data(config: StackConfig) -> None:
    """Demo rows for the DAGs' example confs (each DAG family adds its seeder here)."""
    try:
        from devstack.seed_rdbms_demo import seed
    except ImportError:
        return
    seed(postgres.dsn(config.source_database))
    _seed_github_hours(config)


def _seed_github_hours(config: StackConfig, hours: int = 6) -> None:
    """The last complete GH Archive hours, so the hourly DAG's scheduled runs find theirs."""
    import datetime as dt

    from archiveflow.github_lakehouse.bronze import GhHour
    from devstack.gharchive import generate_hour

    latest = GhHour.of(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    for n in range(hours):
        hour = GhHour(latest.start - dt.timedelta(hours=n))
        if not (config.gharchive_dir / hour.source_path).exists():
            generate_hour(config.gharchive_dir, hour, events=2000)


def down(config: StackConfig) -> list[str]:
    stopped = []
    for name in (*reversed(AIRFLOW_COMPONENTS), "moto", *GITHUB_SOURCES):
        if config.process(name).stop():
            stopped.append(name)
    return stopped


def status(config: StackConfig) -> list[tuple[str, int | None, str]]:
    where = {"moto": config.aws_endpoint, "api-server": f"{config.api_url} (admin / admin, viewer / viewer)"}
    rows = [("postgresql", None if not postgres.is_up() else 0, f"{postgres.PG_HOST}:{postgres.PG_PORT}")]
    for name in ("moto", *GITHUB_SOURCES, *AIRFLOW_COMPONENTS):
        rows.append((name, config.process(name).pid(), where.get(name, str(config.process(name).log_file))))
    return rows


"""Shared fixtures. The local stack for tests runs on its own ports, folder and databases
(StackConfig.for_tests), so a developer's `make up` stack keeps running undisturbed.
Each fixture starts only what is not running yet and stops only what it started."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from devstack import aws_calls, postgres, stack

# Under pytest-xdist (`make test` runs `-n 2`) each worker has a stack of its own: worker gwK uses
# stack ARCHIVEFLOW_TEST_STACK + K (its emulator, Airflow, folder and databases), so two tests that
# run at once never share an emulator's global settings, a checkpoint table or a scheduler.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... in a worker; None otherwise
if XDIST_WORKER:
    os.environ["ARCHIVEFLOW_TEST_STACK"] = str(int(os.environ.get("ARCHIVEFLOW_TEST_STACK", "0"))
                                               + int(XDIST_WORKER.removeprefix("gw")))

# Airflow reads its configuration when first imported: point it at the test stack's home before
# any test module imports it. In-process runs (`dag.test()`) get a metadata database of their
# own: the e2e scheduler must never pick up, and race on, a run that dag.test() is driving.
_TEST_CONFIG = stack.StackConfig.for_tests()
IN_PROCESS_AIRFLOW_DB = f"{_TEST_CONFIG.airflow_database}_inproc"
os.environ.update({k: v for k, v in stack.airflow_env(_TEST_CONFIG).items() if k != "PATH"})
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = stack.sqlalchemy_url(IN_PROCESS_AIRFLOW_DB)

# Least privilege, measured: every AWS call the code makes in this session (in this process and
# in every Python process it starts) is recorded, and at the end compared with the committed list
# the CloudFormation roles are tested against (tests/unit/test_cloudformation_iam.py).
# One log per session: xdist workers append to the one their controller created (one short line
# per call: atomic), and the controller compares it at the end.
COMMITTED_AWS_CALLS = stack.REPO / "mwaa" / "cloudformation" / "aws-calls.json"
if XDIST_WORKER and os.environ.get(aws_calls.LOG_VARIABLE):
    AWS_CALL_LOG = Path(os.environ[aws_calls.LOG_VARIABLE])
else:
    AWS_CALL_LOG = _TEST_CONFIG.home / f"aws-calls-{os.getpid()}.jsonl"
    AWS_CALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    AWS_CALL_LOG.write_text("")
    os.environ[aws_calls.LOG_VARIABLE] = str(AWS_CALL_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [
    str(stack.REPO / "devstack" / "aws_call_recording"), str(stack.REPO / "plugins"), str(stack.REPO),
    os.environ.get("PYTHONPATH")]))
aws_calls.install()


SERIAL_FOLDERS = ("faults",)  # tests/<folder>: their tests are marked `serial`


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the marker added here
def pytest_collection_modifyitems(config, items):
    """The tests under tests/faults/ are marked `serial`: `make test` runs them in a session of their
    own (workers and stacks of their own), beside the parallel part. In one process: fast tests first (unit, integration, then whatever starts real
    Airflow). Under xdist (pytest_xdist_make_scheduler hands out whole groups): the group on real
    Airflow first (the longest chain), then the modules pyproject.toml lists as slow, the other
    integration modules, and unit tests last (small groups that fill the workers' ends)."""

    def folder(item) -> str:
        return item.path.relative_to(item.config.rootpath / "tests").parts[0]

    for item in items:
        if folder(item) in SERIAL_FOLDERS:
            item.add_marker(pytest.mark.serial)
    slow = config.getini("slow_modules")

    def phase(item) -> int:
        if "airflow_stack" in item.fixturenames:
            return 2
        return 0 if folder(item) == "unit" else 1

    def handed_out(item) -> tuple[int, int]:
        module = item.nodeid.split("::")[0]
        if module in slow:
            return (1, slow.index(module))
        return ({2: 0, 1: 2, 0: 3}[phase(item)], 0)

    items.sort(key=handed_out if XDIST_WORKER else phase)


def pytest_addoption(parser):
    parser.addini("slow_modules", "test modules handed out first under xdist, slowest first", type="linelist")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: known only where xdist is loaded
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`: each test module is handed to one worker whole (its module fixtures set up
    once), and the modules on real Airflow (those that name the airflow_stack fixture) together, so
    one worker starts Airflow, not each. pytest-xdist's own loadgroup cannot do this here: its
    xdist_group marker rewrites a node id attribute pytest 9 no longer has."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    on_airflow = {str(path.relative_to(config.rootpath)) for path in (config.rootpath / "tests").rglob("test_*.py")
                  if "airflow_stack" in path.read_text()}

    class ModulesAndAirflow(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "airflow" if module in on_airflow else module

    return ModulesAndAirflow(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Unit tests call stubbed clients with made-up names: only the other tests' calls count."""
    aws_calls.enabled = item.path.relative_to(item.config.rootpath / "tests").parts[0] != "unit"
    try:
        return (yield)
    finally:
        aws_calls.enabled = True


def pytest_sessionfinish(session):
    """An AWS call the committed list lacks fails the session: the roles were never checked for it
    (under xdist, on the controller, once every worker has written its calls)."""
    if XDIST_WORKER:
        return
    recorded = aws_calls.read(str(AWS_CALL_LOG))
    AWS_CALL_LOG.unlink(missing_ok=True)
    committed = aws_calls.load_committed(COMMITTED_AWS_CALLS)
    new = recorded - committed
    if not new:
        return
    if os.environ.get("ARCHIVEFLOW_AWS_CALLS_UPDATE") == "1":
        aws_calls.save_committed(COMMITTED_AWS_CALLS, committed | new)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = "\n".join(f"  {role}: {action} on {resource}" for role, action, resource in sorted(new))
    reporter.write_line(f"AWS calls made by the code but missing from {COMMITTED_AWS_CALLS.name} (check the "
                        f"CloudFormation roles allow them, then rerun with ARCHIVEFLOW_AWS_CALLS_UPDATE=1):\n{lines}",
                        red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@dataclass(frozen=True)
class LocalStack:
    config: stack.StackConfig

    @property
    def aws_endpoint(self) -> str:
        return self.config.aws_endpoint

    @property
    def pg_dsn(self) -> str:
        return postgres.dsn(self.config.source_database)

    def client(self, service: str):
        """A boto3 client on the emulator, for arranging and checking test data."""
        return boto3.client(service, **self.config.boto_args())

    def resource(self, service: str):
        return boto3.resource(service, **self.config.boto_args())


@pytest.fixture(scope="session")
def local_stack():
    """PostgreSQL + the AWS emulator with every declared resource, and the connection env vars set."""
    config = stack.StackConfig.for_tests()
    moto = config.process("moto")
    started_moto = moto.pid() is None
    stack.start_postgres(config)
    stack.start_aws(config)
    saved = dict(os.environ)
    os.environ.update(stack.connection_env(config))
    try:
        yield LocalStack(config)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if started_moto:
            moto.stop()


@pytest.fixture(scope="session")
def github_sources(local_stack):
    """The stack's GH Archive server (`python -m http.server` over config.gharchive_dir) and Events
    API fake, behind gharchive_default and github_events_api_default; stops what it started."""
    config = local_stack.config
    started = [name for name in stack.GITHUB_SOURCES if config.process(name).pid() is None]
    stack.start_github_sources(config)
    yield config.gharchive_dir
    for name in started:
        config.process(name).stop()


@pytest.fixture(scope="session")
def airflow_db(local_stack):
    """The in-process metadata database, migrated: what `dag.test()` needs."""
    postgres.ensure_database(IN_PROCESS_AIRFLOW_DB)
    stack.run_logged([str(stack.VENV_BIN / "airflow"), "db", "migrate"], dict(os.environ),
                     local_stack.config.process("db-migrate-inproc").log_file)


@pytest.fixture(scope="session")
def airflow_stack(local_stack):
    """Real Airflow (api-server, scheduler, dag-processor, triggerer) on the test stack."""
    from devstack.airflow_api import AirflowApi

    config = local_stack.config
    started = [c for c in stack.AIRFLOW_COMPONENTS if config.process(c).pid() is None]
    if len(started) == len(stack.AIRFLOW_COMPONENTS):
        # A fresh metadata database: a run left behind by an earlier, interrupted session (say,
        # one waiting for approval under max_active_runs=1) must not hold up this session's runs.
        postgres.drop_database(config.airflow_database)
    stack.start_airflow(config)
    try:
        yield AirflowApi(config.api_url)
    finally:
        for component in reversed(started):
            config.process(component).stop()


@pytest.fixture
def pg(local_stack):
    """(autocommit connection to the stack's source database, a schema of its own), dropped afterwards."""
    import uuid

    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_stack.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield conn, schema
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def catalog(local_stack):
    """The Glue catalog of the emulator; the archive tables a test creates are dropped afterwards."""
    from archiveflow import resources
    from archiveflow.hooks.iceberg import IcebergCatalogHook

    catalog = IcebergCatalogHook().get_catalog()
    before = set(catalog.list_tables(resources.glue_database("archive")))
    yield catalog
    for identifier in set(catalog.list_tables(resources.glue_database("archive"))) - before:
        catalog.drop_table(identifier)


@pytest.fixture
def notifications(local_stack):
    """A queue of its own subscribed to the notifications topic: call it to read what runs published."""
    import json
    import uuid

    from archiveflow import resources

    sns, sqs = local_stack.client("sns"), local_stack.client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":" + resources.sns_topic("notifications")))
    queue = sqs.create_queue(QueueName=f"notifications-test-{os.getpid()}-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    yield lambda: [json.loads(m["Body"])["Message"] for m in
                   sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=queue)

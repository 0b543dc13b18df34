"""Record the AWS calls archiveflow's code makes, as IAM sees them: (role, action, resource ARN).

moto does not enforce IAM, so the proof that the CloudFormation roles are enough, and no more,
is a record of what the tests actually call (tests/unit/test_cloudformation_iam.py compares it
with the roles' statements). A botocore event hook (``before-parameter-build``) on every
session writes one JSON line per distinct call to the file named by ``ARCHIVEFLOW_AWS_CALL_LOG``.

Which calls count: those made with archiveflow's code or a DAG on the stack (plugins/archiveflow,
dags/, the Amazon provider's operators the DAGs use); a test's own clients arranging data, and the
local stack's provisioning, are not the code's calls. The role: the Batch job role when one of
the Batch workers is on the stack, MWAA's execution role otherwise. S3 objects are recorded at
bucket level (``bucket/*``); calls that name no resource (ListTopics, GetRecords by shard
iterator) are recorded with resource ``*``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading

LOG_VARIABLE = "ARCHIVEFLOW_AWS_CALL_LOG"
STACK_PREFIX = "archiveflow"  # archiveflow.resources.DEFAULT_PREFIX: the names of the stack's own resources
OURS = re.compile(r"((:::|/|:)" + STACK_PREFIX + r"[-_]|:catalog$)")  # the stack's, or Glue's catalog
# A resource a run's conf names (the tests make a fresh one each run: it-ddb-1a2b3c4d): recorded as
# this one name, so a session compares its actions, not the tests' random names.
CONF_NAMED = "conf-named"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
BATCH_WORKERS = (os.path.join("archiveflow", "deep_archive", "worker.py"),
                 os.path.join("archiveflow", "restore", "worker.py"))
CODE_MARKERS = (os.sep + os.path.join("plugins", "archiveflow") + os.sep, os.sep + "dags" + os.sep,
                os.path.join("airflow", "providers", "amazon", "aws", "operators"),
                os.path.join("airflow", "providers", "amazon", "aws", "triggers"))
NOT_THE_CODE = (os.path.join("archiveflow", "stack_check") + os.sep,)  # probes every resource on purpose
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}

# S3 operations whose IAM action has another name (docs: "Amazon S3 actions" / "S3 API operations").
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject", "UploadPartCopy": "PutObject", "DeleteObjects": "DeleteObject",
    "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
}
S3_BUCKET_LEVEL = {"ListBucket", "ListBucketVersions", "ListBucketMultipartUploads", "GetBucketVersioning",
                   "GetLifecycleConfiguration", "PutLifecycleConfiguration", "GetBucketLocation"}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}

enabled = True  # the test session turns it off while unit tests (stubbed clients) run
_seen: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def install() -> None:
    """Record every botocore session's calls from now on (when the log variable is set)."""
    if not os.environ.get(LOG_VARIABLE):
        return
    from botocore.session import Session

    if getattr(Session, "_archiveflow_recording", False):
        return
    original_init = Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.register("before-parameter-build", _on_call, unique_id="archiveflow-aws-call-log")

    Session.__init__ = init
    Session._archiveflow_recording = True


def _on_call(params, model, **_):
    if not enabled:
        return
    role = _role_of_caller()
    if role is None:
        return
    service = model.service_model.signing_name or model.service_model.endpoint_prefix
    for action, resource in iam_requests(service, model.name, params or {}):
        _write(role, f"{service}:{action}", resource)


def _role_of_caller() -> str | None:
    frame, ours, batch = sys._getframe(2), False, False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.endswith(BATCH_WORKERS):
            batch = True
        if any(marker in filename for marker in NOT_THE_CODE):
            return None
        ours = ours or any(marker in filename for marker in CODE_MARKERS)
        frame = frame.f_back
    if not ours:
        return None
    return "batch-job" if batch else "execution"


def _write(role: str, action: str, resource: str) -> None:
    record = (role, action, resource)
    with _lock:
        if record in _seen:
            return
        _seen.add(record)
        line = json.dumps({"role": role, "action": action, "resource": resource}) + "\n"
        with open(os.environ[LOG_VARIABLE], "a") as log:  # one short append per distinct call: atomic
            log.write(line)


def iam_requests(service: str, operation: str, params: dict) -> list[tuple[str, str]]:
    """The (IAM action without its service, resource ARN) pairs one API call needs."""
    if (service, operation) in NO_PERMISSION_NEEDED:
        return []
    if service == "s3":
        return _s3(operation, params)
    if service == "dynamodb":
        return _dynamodb(operation, params)
    if service == "glue" and params.get("DatabaseName"):
        # Glue checks the catalog, the database and (for table calls) the table.
        prefix = f"arn:aws:glue:{REGION}:{ACCOUNT}"
        database = params["DatabaseName"]
        resources = [f"{prefix}:catalog", f"{prefix}:database/{database}"]
        if params.get("Name") or params.get("TableName") or operation.endswith("Tables"):
            resources.append(f"{prefix}:table/{database}/*")
        return [(operation, r) for r in resources]
    if service == "batch" and operation == "SubmitJob":
        prefix = f"arn:aws:batch:{REGION}:{ACCOUNT}"
        definition = params["jobDefinition"].rsplit("/", 1)[-1].split(":", 1)[0]
        return [(operation, f"{prefix}:job-queue/{params['jobQueue'].rsplit('/', 1)[-1]}"),
                (operation, f"{prefix}:job-definition/{definition}")]
    return [(operation, _resource(service, params))]


def _s3(operation: str, params: dict) -> list[tuple[str, str]]:
    action = S3_ACTIONS.get(operation, operation)
    if params.get("VersionId") and action in ("GetObject", "DeleteObject"):
        action += "Version"
    bucket = params.get("Bucket", "")
    resource = f"arn:aws:s3:::{bucket}" if action in S3_BUCKET_LEVEL else f"arn:aws:s3:::{bucket}/*"
    requests = [(action, resource)]
    source = params.get("CopySource")
    if source:
        source_bucket = source["Bucket"] if isinstance(source, dict) else source.lstrip("/").split("/", 1)[0]
        requests.append(("GetObject", f"arn:aws:s3:::{source_bucket}/*"))
    return requests


def _dynamodb(operation: str, params: dict) -> list[tuple[str, str]]:
    if operation == "TransactWriteItems" or operation == "TransactGetItems":
        return [(TRANSACT_ACTIONS[kind], _table_arn(spec["TableName"]))
                for item in params.get("TransactItems", []) for kind, spec in item.items()]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(operation, _table_arn(name)) for name in params.get("RequestItems", {})]
    if "StreamArn" in params:  # DynamoDB Streams: signed as "dynamodb"
        table = params["StreamArn"].split(":table/", 1)[1].split("/", 1)[0]
        return [(operation, f"{_table_arn(table)}/stream/*")]
    if "TableName" not in params:
        return [(operation, "*")]
    if params.get("IndexName"):
        return [(operation, f"{_table_arn(params['TableName'])}/index/{params['IndexName']}")]
    return [(operation, _table_arn(params["TableName"]))]


def _table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _resource(service: str, params: dict) -> str:
    prefix = f"arn:aws:{service}:{REGION}:{ACCOUNT}"
    if service == "sqs" and (params.get("QueueUrl") or params.get("QueueName")):
        return f"{prefix}:{(params.get('QueueName') or params['QueueUrl']).rstrip('/').rsplit('/', 1)[-1]}"
    if service == "sns" and (params.get("TopicArn") or params.get("TargetArn")):
        return params.get("TopicArn") or params["TargetArn"]
    if service == "kinesis" and (params.get("StreamName") or params.get("StreamARN")):
        return f"{prefix}:stream/{params.get('StreamName') or params['StreamARN'].rsplit('/', 1)[-1]}"
    if service == "athena" and params.get("WorkGroup"):
        return f"{prefix}:workgroup/{params['WorkGroup']}"
    if service == "batch" and params.get("jobQueue"):
        return f"{prefix}:job-queue/{params['jobQueue'].rsplit('/', 1)[-1]}"
    return "*"


def generalised(role: str, action: str, resource: str) -> tuple[str, str, str]:
    return role, action, resource if resource == "*" or OURS.search(resource) else CONF_NAMED


def read(path: str) -> set[tuple[str, str, str]]:
    """The distinct (role, action, resource) records of a log."""
    if not os.path.exists(path):
        return set()
    with open(path) as log:
        return {generalised(r["role"], r["action"], r["resource"]) for r in map(json.loads, filter(str.strip, log))}


def load_committed(path) -> set[tuple[str, str, str]]:
    """The committed list (mwaa/cloudformation/aws-calls.json) as records."""
    if not os.path.exists(path):
        return set()
    with open(path) as committed:
        return {generalised(r["role"], r["action"], r["resource"]) for r in json.load(committed)}


def save_committed(path, records: set[tuple[str, str, str]]) -> None:
    rows = [{"role": role, "action": action, "resource": resource} for role, action, resource in sorted(records)]
    with open(path, "w") as committed:
        json.dump(rows, committed, indent=1)
        committed.write("\n")

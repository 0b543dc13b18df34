"""`make deploy STACK=<stack>`: ship the bundle to an MWAA environment through its CloudFormation stack.

1. build the bundle (deploy.bundle);
2. read the stack: its output `MwaaSourceBucketName` (a versioned bucket) and its
   `AWS::MWAA::Environment` resource;
3. upload what changed: `plugins.zip`, `requirements.txt`, `startup.sh` (each upload is a new object
   version) and the dags prefix `dags/` (files no longer in the bundle are deleted: the bucket
   keeps their old versions). The dags prefix goes first: MWAA reads the constraints file there
   when it installs requirements.txt;
4. a change set on the stack setting `PluginsS3ObjectVersion`, `RequirementsS3ObjectVersion` and
   `StartupScriptS3ObjectVersion` (every other parameter keeps its value), so the environment
   never drifts from its template; execute it, wait for the stack, then for the environment to be
   AVAILABLE; say what changed.

`--dry-run` changes nothing MWAA uses: it lists what it would change in dags/ and leaves it alone, uploads the three objects as new
versions (inert until the stack names them; the change set needs their version ids), creates the
change set, prints it and deletes it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.bundle import Bundle, build

BUCKET_OUTPUT = "MwaaSourceBucketName"
PACKAGE_SOURCE_OUTPUT = "PythonPackageSource"
VERSION_PARAMETERS = {"plugins.zip": "PluginsS3ObjectVersion", "requirements.txt": "RequirementsS3ObjectVersion",
                      "startup.sh": "StartupScriptS3ObjectVersion"}
DAGS_PREFIX = "dags/"
ENVIRONMENT_FAILED = {"UPDATE_FAILED", "CREATE_FAILED", "UNAVAILABLE", "DELETED", "DELETING"}
STACK_DONE = {"UPDATE_COMPLETE"}
STACK_FAILED_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")


class DeployError(Exception):
    pass


@dataclass
class Report:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    parameters: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (old, new)
    changes: list[str] = field(default_factory=list)
    dags_pending: list[str] = field(default_factory=list)  # a dry run's "upload <key>" / "delete <key>"
    outcome: str = ""

    def lines(self) -> list[str]:
        return ([f"uploaded {key}" for key in self.uploaded] + [f"deleted {key}" for key in self.deleted]
                + [f"would {action}" for action in self.dags_pending]
                + [f"{name}: {old or '-'} -> {new}" for name, (old, new) in self.parameters.items()]
                + [f"change: {change}" for change in self.changes] + [self.outcome])


def _outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Deployment:
    def __init__(self, stack_name: str, s3, cloudformation, mwaa, sleep: Callable[[float], None] = time.sleep,
                 poll_seconds: float = 30, timeout: float = 3600):
        self.stack_name = stack_name
        self.s3, self.cfn, self.mwaa = s3, cloudformation, mwaa
        self.sleep, self.poll_seconds, self.timeout = sleep, poll_seconds, timeout

    # --- reading the stack -----------------------------------------------------------------------
    def stack(self) -> dict:
        return self.cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]

    def bucket(self, stack: dict) -> str:
        outputs = _outputs(stack)
        if BUCKET_OUTPUT not in outputs:
            raise DeployError(f"stack {self.stack_name} has no output {BUCKET_OUTPUT}")
        bucket = outputs[BUCKET_OUTPUT]
        if self.s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            raise DeployError(f"bucket {bucket} is not versioned: MWAA needs object versions")
        return bucket

    def packs_wheels(self, stack: dict) -> bool:
        """The stack's `PythonPackageSource` output: `plugins-zip-wheels` means no PyPI on the web server."""
        outputs = _outputs(stack)
        return outputs.get(PACKAGE_SOURCE_OUTPUT) == "plugins-zip-wheels"

    def environment_name(self) -> str:
        resources = self.cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]
        names = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::MWAA::Environment"]
        if len(names) != 1:
            raise DeployError(f"stack {self.stack_name} has {len(names)} AWS::MWAA::Environment resources, not 1")
        return names[0]

    # --- uploads ----------------------------------------------------------------------------------
    # An ETag is no content hash under SSE-KMS: each object carries its SHA-256 in its metadata.
    def _digest(self, bucket: str, key: str) -> tuple[str | None, str | None]:
        """(SHA-256 recorded at upload, version id) of the current object; (None, None) if absent."""
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None, None
            raise
        return head.get("Metadata", {}).get("sha256"), head.get("VersionId")

    def _put(self, bucket: str, key: str, path: Path) -> str:
        return self.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                                  Metadata={"sha256": _sha256(path)})["VersionId"]

    def sync_dags(self, bucket: str, bundle: Bundle, report: Report, dry_run: bool = False) -> None:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DAGS_PREFIX)
        current = {o["Key"] for page in pages for o in page.get("Contents", [])}
        wanted = {DAGS_PREFIX + str(p.relative_to(bundle.dags)): p for p in sorted(bundle.dags.rglob("*")) if p.is_file()}
        for key, path in wanted.items():
            if key not in current or self._digest(bucket, key)[0] != _sha256(path):
                if dry_run:
                    report.dags_pending.append(f"upload {key}")
                    continue
                self._put(bucket, key, path)
                report.uploaded.append(key)
        for key in sorted(current - set(wanted)):
            if dry_run:
                report.dags_pending.append(f"delete {key}")
                continue
            self.s3.delete_object(Bucket=bucket, Key=key)
            report.deleted.append(key)

    def upload_versioned(self, bucket: str, bundle: Bundle, report: Report) -> dict[str, str]:
        """{parameter: version id} of plugins.zip, requirements.txt, startup.sh (uploaded if changed)."""
        versions = {}
        for key, parameter in VERSION_PARAMETERS.items():
            path = bundle.root / key
            digest, version = self._digest(bucket, key)
            if digest != _sha256(path):
                version = self._put(bucket, key, path)
                report.uploaded.append(key)
            versions[parameter] = version
        return versions

    # --- the stack and the environment -------------------------------------------------------------
    def change_set(self, stack: dict, versions: dict[str, str], report: Report) -> str | None:
        """Create the change set; its id, or None when the stack already has these versions."""
        previous = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        missing = set(versions) - set(previous)
        if missing:
            raise DeployError(f"stack {self.stack_name} lacks the parameters {sorted(missing)}")
        report.parameters = {k: (previous[k], v) for k, v in versions.items() if previous[k] != v}
        if not report.parameters:
            return None
        parameters = [{"ParameterKey": k, "ParameterValue": versions[k]} if k in versions
                      else {"ParameterKey": k, "UsePreviousValue": True} for k in previous]
        name = f"archiveflow-deploy-{int(time.time())}"
        created = self.cfn.create_change_set(
            StackName=self.stack_name, ChangeSetName=name, ChangeSetType="UPDATE", UsePreviousTemplate=True,
            Parameters=parameters, Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            Description="archiveflow deploy: new plugins/requirements/startup script versions")
        change_set_id = created["Id"]
        description = self._wait("change set", lambda: self.cfn.describe_change_set(ChangeSetName=change_set_id),
                                 lambda d: d["Status"] in ("CREATE_COMPLETE", "FAILED"))
        if description["Status"] == "FAILED":
            raise DeployError(f"change set failed: {description.get('StatusReason')}")
        report.changes = [f"{c['ResourceChange']['Action']} {c['ResourceChange']['LogicalResourceId']} "
                          f"({c['ResourceChange']['ResourceType']})" for c in description.get("Changes", [])]
        return change_set_id

    def _wait(self, what: str, describe: Callable[[], dict], done: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            state = describe()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise DeployError(f"{what} not done after {self.timeout:.0f} s: {state}")
            self.sleep(self.poll_seconds)

    def update(self, change_set_id: str, environment: str) -> str:
        self.cfn.execute_change_set(ChangeSetName=change_set_id)
        stack = self._wait("stack update", self.stack, lambda s: s["StackStatus"] in STACK_DONE
                           or s["StackStatus"].endswith(STACK_FAILED_SUFFIXES))
        if stack["StackStatus"] not in STACK_DONE:
            raise DeployError(f"stack {self.stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        env = self._wait("environment", lambda: self.mwaa.get_environment(Name=environment)["Environment"],
                         lambda e: e["Status"] == "AVAILABLE" or e["Status"] in ENVIRONMENT_FAILED)
        if env["Status"] != "AVAILABLE":
            raise DeployError(f"environment {environment}: {env['Status']} {env.get('LastUpdate', {}).get('Error', '')}")
        return env["Status"]

    def run(self, bundle: Bundle, dry_run: bool = False) -> Report:
        report = Report()
        stack = self.stack()
        bucket = self.bucket(stack)
        environment = self.environment_name()
        self.sync_dags(bucket, bundle, report, dry_run)
        versions = self.upload_versioned(bucket, bundle, report)
        change_set_id = self.change_set(stack, versions, report)
        if change_set_id is None:
            report.outcome = f"stack {self.stack_name} already uses these versions: no environment update"
        elif dry_run:
            self.cfn.delete_change_set(ChangeSetName=change_set_id)
            report.outcome = f"dry run: change set shown and deleted; environment {environment} untouched"
        else:
            status = self.update(change_set_id, environment)
            report.outcome = f"environment {environment} is {status}"
        return report


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m deploy.to_mwaa", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-name", required=True, help="the CloudFormation stack owning the MWAA environment")
    parser.add_argument("--region")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--with-wheels", action="store_true",
                        help="bundle the wheels even if the stack's PythonPackageSource is pypi-through-nat")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the stack, then the environment")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    deployment = Deployment(args.stack_name, session.client("s3"), session.client("cloudformation"),
                            session.client("mwaa"), timeout=args.timeout)
    try:
        with_wheels = args.with_wheels or deployment.packs_wheels(deployment.stack())
        report = deployment.run(build(with_wheels=with_wheels), dry_run=args.dry_run)
    except DeployError as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

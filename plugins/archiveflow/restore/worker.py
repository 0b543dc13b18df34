"""The restore worker for many files: ``python -m archiveflow.restore.worker``, run by AWS Batch
with the packing job definition's image (the `extract` task overrides its command).

Environment: ``ARCHIVEFLOW_RESTORE_PLAN`` (s3:// URI of the extraction plan the task wrote) and,
for array children, ``AWS_BATCH_JOB_ARRAY_INDEX``: child ``i`` of ``n`` restores files
``i, i+n, ...`` and writes what it restored and what failed to ``{results}/{i:05d}.json`` next to
the plan. A retried child overwrites the same restored objects and the same result object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

from archiveflow.deep_archive.s3io import parse_uri
from archiveflow.errors import SafetyRefusal
from archiveflow.restore.extract import ReadCounter, restore_file
from archiveflow.restore.lookup import ArchivedFile

log = logging.getLogger("archiveflow.restore.worker")
THREADS = 8


def restore_files(s3, plan: dict, files: list[ArchivedFile], counter: ReadCounter) -> dict:
    """Restore `files` (a thread pool of ranged GETs), each with its own outcome: a file that fails
    is listed with `retryable` (a timeout, throttling) or not (a refusal, corrupt bytes), the others
    go on. A file whose verified copy is already in the restore bucket is not read again."""

    def restore(f: ArchivedFile) -> tuple[dict | None, dict | None]:
        try:
            return restore_file(s3, f, plan["restore_bucket"], plan["destination_prefix"], counter,
                                overwrite=plan.get("overwrite", False)), None
        except Exception as err:  # noqa: BLE001 - one file's fault, whatever it is, is that file's outcome
            retryable = not isinstance(err, (SafetyRefusal, zlib.error))
            log.error("%s: not restored (%s): %s", f.source, "retryable" if retryable else "final", err)
            return None, {"source": f.source, "error": f"{type(err).__name__}: {err}", "retryable": retryable}

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(restore, files))
    return {"restored": [ok for ok, _ in outcomes if ok], "failed": [bad for _, bad in outcomes if bad],
            "archive_bytes_read": counter.bytes, "archive_get_requests": counter.requests}


def results_key(plan_key: str, child: int) -> str:
    return f"{plan_key.rsplit('/', 1)[0]}/results/{child:05d}.json"


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s [restore] %(message)s")
    s3 = boto3.session.Session().client("s3", config=Config(max_pool_connections=THREADS + 4,
                                                             retries={"mode": "standard", "max_attempts": 8}))
    bucket, key = parse_uri(os.environ["ARCHIVEFLOW_RESTORE_PLAN"])
    plan = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    child = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "0"))
    mine = [ArchivedFile(**f) for f in plan["files"][child::plan["array_size"]]]
    log.info("child %s of %s restores %s of %s files", child, plan["array_size"], len(mine), len(plan["files"]))
    outcome = restore_files(s3, plan, mine, ReadCounter())
    s3.put_object(Bucket=bucket, Key=results_key(key, child), Body=json.dumps(outcome).encode(),
                  ContentType="application/json")
    log.info("child %s: %s restored, %s failed", child, len(outcome["restored"]), len(outcome["failed"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AWS Batch hook that can also stand in for the container runtime, chosen by the connection.

On AWS this is the Amazon provider's ``BatchClientHook`` unchanged. When the AWS connection's
extra says ``{"service_config": {"batch": {"local_runner": "subprocess"}}}`` (the local stack,
where the emulator records jobs but runs nothing), each submitted job's container command is
also run here, one subprocess per array child with ``AWS_BATCH_JOB_ARRAY_INDEX`` set, with the
job's environment and the connection's credentials and endpoint. The DAG never asks where it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook as ProviderBatchClientHook
from airflow.providers.common.compat.sdk import AirflowException

import archiveflow
from archiveflow.hooks.client_settings import AwsClientSettings

# The folder holding the archiveflow package: what the container image has on its PYTHONPATH.
PACKAGE_ROOT = str(Path(archiveflow.__file__).resolve().parent.parent)


class BatchClientHook(ProviderBatchClientHook):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local_processes: list[subprocess.Popen] = []

    @property
    def runs_jobs_locally(self) -> bool:
        return self.service_config.get("local_runner") == "subprocess"

    def _local_env(self, job: dict) -> dict[str, str]:
        return {
            **os.environ,
            **{item["name"]: item["value"] for item in job["container"].get("environment", [])},
            **AwsClientSettings.from_hook(self).environment(),
            "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
        }

    def run_job_locally(self, job_id: str) -> None:
        """Run the job's command for each array child (``local_parallelism`` at a time); raise if any fails."""
        job = self.get_job_description(job_id)
        if job["status"] == "FAILED":
            self.log.info("AWS Batch job %s already FAILED: nothing to run locally", job_id)
            return
        command = list(job["container"]["command"])
        if command[0] in ("python", "python3"):
            command[0] = sys.executable  # the image's python is this environment's python here
        env = self._local_env(job)
        size = job.get("arrayProperties", {}).get("size")
        children = list(range(size)) if size else [None]

        def run(child: int | None) -> int:
            child_env = env if child is None else {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(child)}
            label = f"{job_id}:{child}" if child is not None else job_id
            process = subprocess.Popen(command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
            self._local_processes.append(process)
            for line in process.stdout:
                self.log.info("[%s] %s", label, line.rstrip())
            return process.wait()

        self.log.info("running AWS Batch job %s locally: %s x %s", job_id, len(children), " ".join(command))
        with ThreadPoolExecutor(int(self.service_config.get("local_parallelism", 2))) as pool:
            codes = list(pool.map(run, children))
        failed = [child for child, code in zip(children, codes, strict=True) if code != 0]
        if failed:
            raise AirflowException(f"AWS Batch job {job_id} (run locally): children {failed} failed")

    def stop_local_jobs(self) -> None:
        """SIGTERM what run_job_locally started (a worker aborts its upload on SIGTERM)."""
        for process in self._local_processes:
            if process.poll() is None:
                process.terminate()

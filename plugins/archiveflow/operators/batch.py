"""The Amazon provider's ``BatchOperator`` on archiveflow's Batch hook (see hooks/batch.py)."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.batch import BatchOperator as ProviderBatchOperator

from archiveflow.hooks.batch import BatchClientHook


class BatchOperator(ProviderBatchOperator):
    """Submit (and, deferrable, wait for) an AWS Batch job; a local-runner connection also runs it here."""

    aws_hook_class = BatchClientHook

    def submit_job(self, context) -> None:
        super().submit_job(context)
        if self.hook.runs_jobs_locally:
            self.hook.run_job_locally(self.job_id)

    def on_kill(self) -> None:
        self.hook.stop_local_jobs()
        super().on_kill()

"""Wait for a file to be published on an HTTP server (a GH Archive hour), deferred: one HEAD at
once, then the wait runs in the triggerer (`HttpObjectPublishedTrigger`) and no worker slot is
held. Still missing after `wait_timeout_minutes` → `AirflowSensorTimeout` (no retry), naming the
URL."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from archiveflow.errors import TransientServiceError
from archiveflow.operators.base import fail_without_retry


class HttpObjectSensor(BaseSensorOperator):
    template_fields = ("endpoint", "http_conn_id", "wait_timeout_minutes")
    ui_color = "#e8f0fe"

    def __init__(self, *, endpoint: str, http_conn_id: str, wait_timeout_minutes: float | str = 360,
                 poke_interval: float = 60, **kwargs: Any) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.endpoint, self.http_conn_id = endpoint, http_conn_id
        self.wait_timeout_minutes = wait_timeout_minutes

    def _url(self) -> str:
        from airflow.providers.http.hooks.http import HttpHook

        return HttpHook(method="HEAD", http_conn_id=self.http_conn_id).url_from_endpoint(self.endpoint)

    def poke(self, context) -> bool:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="HEAD", http_conn_id=self.http_conn_id)
        response = hook.run(self.endpoint, extra_options={"check_response": False, "timeout": 30})
        self.log.info("HEAD %s: HTTP %s", response.url, response.status_code)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise TransientServiceError(f"HEAD {response.url}: HTTP {response.status_code} {response.reason}")

    def execute(self, context) -> None:
        minutes = float(self.wait_timeout_minutes)
        with fail_without_retry():
            if self.poke(context):
                return
        if minutes <= 0:
            raise AirflowSensorTimeout(f"{self._url()} is not published (HTTP 404) and wait_timeout_minutes is 0")
        self.log.info("%s not published yet: waiting up to %s minutes (deferred)", self.endpoint, minutes)
        from archiveflow.triggers.http_object import (
            HttpObjectPublishedTrigger,  # aiohttp: not at DAG parse time
        )

        self.defer(
            trigger=HttpObjectPublishedTrigger(self.http_conn_id, self.endpoint, time.time() + minutes * 60,
                                               self.poke_interval),
            method_name="execute_complete",
            timeout=timedelta(minutes=minutes, seconds=300),  # backstop: the trigger stops at its deadline
        )

    def execute_complete(self, context, event: dict[str, Any]) -> None:
        if event["status"] == "published":
            self.log.info("%s is published", event["endpoint"])
            return
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(f"{self._url()} still not published after {self.wait_timeout_minutes} "
                                       f"minutes (last answer: {event['message']})")
        raise TransientServiceError(f"HEAD {self._url()}: {event['message']}")

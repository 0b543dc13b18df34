"""Wait, in the triggerer, for a file to be published on an HTTP server (a GH Archive hour).

The HTTP provider's `HttpSensorTrigger` re-requests at once, without sleeping, on any error but
404 and never stops on its own; this one HEADs the URL every `poke_interval` seconds: 200 →
`published`, 404 or a dropped connection → wait again, any other status → `error` (the sensor
fails and its retries take over), `deadline` passed → `timeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.providers.http.hooks.http import HttpAsyncHook
from airflow.triggers.base import BaseTrigger, TriggerEvent


class HttpObjectPublishedTrigger(BaseTrigger):
    def __init__(self, http_conn_id: str, endpoint: str, deadline: float, poke_interval: float = 60.0):
        super().__init__()
        self.http_conn_id, self.endpoint = http_conn_id, endpoint
        self.deadline, self.poke_interval = deadline, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("archiveflow.triggers.http_object.HttpObjectPublishedTrigger",
                {"http_conn_id": self.http_conn_id, "endpoint": self.endpoint, "deadline": self.deadline,
                 "poke_interval": self.poke_interval})

    async def _status(self, hook: HttpAsyncHook) -> tuple[int | None, str]:
        """(HTTP status or None when the server could not be reached, what happened)."""
        try:
            async with hook.session() as http:
                response = await http.run(endpoint=self.endpoint, extra_options={"check_response": False})
                return response.status, f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            return None, f"{type(err).__name__}: {err}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = HttpAsyncHook(method="HEAD", http_conn_id=self.http_conn_id, retry_limit=1)
        while True:
            status, what = await self._status(hook)
            if status == 200:
                yield TriggerEvent({"status": "published", "endpoint": self.endpoint})
                return
            if status not in (None, 404):
                yield TriggerEvent({"status": "error", "endpoint": self.endpoint, "message": what})
                return
            remaining = self.deadline - time.time()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "endpoint": self.endpoint, "message": what})
                return
            self.log.info("%s not published yet (%s); next look in %.0f s", self.endpoint, what,
                          min(self.poke_interval, remaining))
            await asyncio.sleep(min(self.poke_interval, remaining))

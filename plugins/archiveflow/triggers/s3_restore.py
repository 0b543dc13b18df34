"""A deferrable wait for S3 object restores (Glacier Flexible Retrieval, Deep Archive,
Intelligent-Tiering archive tiers): the Amazon provider has none.

The trigger polls HeadObject's `Restore` header through the provider's async S3 hook, as the
provider's own S3 triggers do, until no object shows `ongoing-request="true"`. It serializes its
deadline as an absolute time, so a triggerer restart resumes the same wait instead of starting a
new one. Objects are dicts `{"bucket": ..., "key": ...}`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.triggers.base import BaseTrigger, TriggerEvent

ONGOING = 'ongoing-request="true"'
DONE = 'ongoing-request="false"'


class S3RestoreTrigger(BaseTrigger):
    """Fires `{"status": "success"}` when every object is restored, `{"status": "timeout", "pending":
    [...]}` at `end_time` (epoch seconds), `{"status": "error", ...}` when an object shows no restore."""

    def __init__(self, objects: list[dict], end_time: float, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None, poll_interval: float = 600) -> None:
        super().__init__()
        self.objects = [{"bucket": o["bucket"], "key": o["key"]} for o in objects]
        self.end_time = end_time
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"objects": self.objects, "end_time": self.end_time, "aws_conn_id": self.aws_conn_id,
                 "region_name": self.region_name, "poll_interval": self.poll_interval})

    @cached_property
    def hook(self) -> S3Hook:
        return S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    async def _pending(self, client, objects: list[dict]) -> tuple[list[dict], list[dict]]:
        """(still in progress, with no restore at all) among `objects`."""
        heads = await asyncio.gather(*(self.hook.get_head_object_async(client, key=o["key"], bucket_name=o["bucket"])
                                       for o in objects))
        ongoing, missing = [], []
        for o, head in zip(objects, heads, strict=True):
            header = (head or {}).get("Restore") or ""
            if ONGOING in header:
                ongoing.append(o)
            elif DONE not in header:
                missing.append(o)
        return ongoing, missing

    async def run(self) -> AsyncIterator[TriggerEvent]:
        pending = self.objects
        async with await self.hook.get_async_conn() as client:
            while True:
                pending, missing = await self._pending(client, pending)
                if missing:
                    yield TriggerEvent({"status": "error", "objects": missing,
                                        "message": "no restore requested (or it expired) for these objects"})
                    return
                if not pending:
                    yield TriggerEvent({"status": "success", "objects": self.objects})
                    return
                if time.time() >= self.end_time:
                    yield TriggerEvent({"status": "timeout", "pending": pending})
                    return
                self.log.info("%s of %s restores still in progress (first: s3://%s/%s); next check in %ss",
                              len(pending), len(self.objects), pending[0]["bucket"], pending[0]["key"],
                              self.poll_interval)
                await asyncio.sleep(min(self.poll_interval, max(self.end_time - time.time(), 0) + 1))

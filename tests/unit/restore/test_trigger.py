"""S3RestoreTrigger survives a triggerer restart: it serializes to an importable classpath and
the same arguments (an absolute deadline, not a duration that would restart)."""

from __future__ import annotations

import importlib

from archiveflow.triggers.s3_restore import S3RestoreTrigger


def test_serialize_round_trip():
    trigger = S3RestoreTrigger([{"bucket": "b", "key": "k.zip"}], end_time=1_900_000_000.5, aws_conn_id="aws_x",
                               region_name="eu-west-1", poll_interval=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "archiveflow.triggers.s3_restore.S3RestoreTrigger"
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["end_time"] == 1_900_000_000.5 and kwargs["objects"] == [{"bucket": "b", "key": "k.zip"}]

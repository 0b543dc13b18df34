"""Each `s3_restore` run in the `runs` DynamoDB table: what was restored, what failed, what it cost."""

from __future__ import annotations

import json
from decimal import Decimal

from archiveflow.deep_archive.index import now_iso

RUN_PK = "s3_restore#run#{run_id}"


def record_run(runs_table, run_id: str, summary: dict) -> None:
    """One item per run (a retry overwrites it with the same content)."""
    item = {"pk": RUN_PK.format(run_id=run_id), "sk": "run", "run_id": run_id, "dag_id": "s3_restore",
            "finished_at": now_iso(), **summary}
    runs_table.put_item(Item=json.loads(json.dumps(item), parse_float=Decimal))  # DynamoDB takes no float

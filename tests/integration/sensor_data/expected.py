"""What the aggregates and the API must say, computed independently of archiveflow's code: straight
from the raw objects in S3 with the standard library (used by integration and e2e tests)."""

from __future__ import annotations

import gzip
import json
import statistics
from collections import defaultdict
from datetime import datetime


def s3_lines(s3, bucket: str, prefix: str, stream: str) -> list[dict]:
    """Every JSON line of the objects under `prefix` that came from `stream`."""
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].rsplit("/", 1)[-1].startswith(f"{stream}."):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                lines += [json.loads(text) for text in gzip.decompress(body).decode().split("\n") if text]
    return lines


def temperatures_by_sensor_hour(raw_lines: list[dict]) -> dict[tuple[str, str], list[float]]:
    by_hour = defaultdict(list)
    for line in raw_lines:
        moment = datetime.fromisoformat(line["timestamp"])
        by_hour[(line["sensor_id"], moment.strftime("%Y-%m-%dT%H:00:00Z"))].append(line["temperature"])
    return dict(by_hour)


def summary(values: list[float]) -> dict:
    return {"count": len(values), "mean": statistics.fmean(values), "min": min(values), "max": max(values)}


def item_summary(item: dict) -> dict:
    return {"count": int(item["count"]), "mean": float(item["mean_temperature"]),
            "min": float(item["min_temperature"]), "max": float(item["max_temperature"])}


def close(a: dict, b: dict) -> bool:
    return a["count"] == b["count"] and all(abs(a[k] - b[k]) < 1e-9 for k in ("mean", "min", "max"))

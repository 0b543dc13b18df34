"""Find a declared SNS topic's ARN through the provider's SnsHook (the account and region come
from the connection, so the ARN is looked up rather than assembled)."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.sns import SnsHook

from archiveflow import resources


def declared_topic_arn(hook: SnsHook, logical: str) -> str | None:
    """ARN of the resources.yaml topic `logical` in the connection's account, None if absent."""
    name = resources.sns_topic(logical)
    pages = hook.get_conn().get_paginator("list_topics").paginate()
    return next((t["TopicArn"] for page in pages for t in page["Topics"] if t["TopicArn"].rsplit(":", 1)[-1] == name),
                None)

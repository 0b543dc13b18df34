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


def announce(aws_conn_id: str, subject: str, message: str, log) -> bool:
    """Publish to the declared `notifications` topic; False (and a log line) when it is not deployed."""
    hook = SnsHook(aws_conn_id=aws_conn_id)
    arn = declared_topic_arn(hook, "notifications")
    if arn is None:
        log.warning("no SNS topic %r in this account: not announcing %r", resources.sns_topic("notifications"), subject)
        return False
    hook.publish_to_target(arn, message, subject=subject[:99])
    return True

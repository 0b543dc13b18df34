"""The planning step of `github_gold`: which days to recompute. The run is triggered by Silver's
Asset events (an asset-triggered run has no data interval of its own): the days are the ones
their `extra` names, or the conf's `days` for a manual run."""

from __future__ import annotations

from archiveflow.errors import BadRequest
from archiveflow.github_lakehouse.request import gold_days, parse_gold_request
from archiveflow.operators.base import ArchiveflowOperator

# The Gold tables, then one MERGE per table (each replaces a day's rows).
GOLD_SQL = [f"github_lakehouse/{name}.sql" for name in (
    "gold_daily_table", "gold_top_repos_table", "gold_hourly_table",
    "gold_daily_merge", "gold_top_repos_merge", "gold_hourly_merge")]


def triggering_extras(context) -> list[dict]:
    events = context.get("triggering_asset_events") or {}
    return [dict(event.extra or {}) for asset_events in events.values() for event in asset_events]


class PlanGoldDaysOperator(ArchiveflowOperator):
    """Returns one `{"parameters": {"ingest_dt": day}, "asset_extra": {"days": [day]}}` per day, for
    `LakehouseSqlOperator.partial(...).expand_kwargs(...)`."""

    def run(self, context) -> list[dict]:
        request = parse_gold_request(context["params"])
        extras = triggering_extras(context)
        days = gold_days(request, extras)
        if not days:
            raise BadRequest("days", "no day to recompute: give `days` (a manual run) or let Silver updates "
                             f"trigger the DAG (triggering events' extra: {extras})")
        self.log.info("recomputing Gold for %s day(s): %s (from %s)", len(days), days,
                      "the conf" if request.days else f"{len(extras)} Silver asset event(s)")
        return [{"parameters": {"ingest_dt": day}, "asset_extra": {"days": [day]}} for day in days]

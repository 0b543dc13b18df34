"""The planning step of `github_gold`: which days to recompute. The run is triggered by Silver's
Asset events (an asset-triggered run has no data interval of its own): the days are the ones
their `extra` names, or the conf's `days` for a manual run."""

from __future__ import annotations

from archiveflow.errors import BadRequest
from archiveflow.github_lakehouse.request import gold_days, parse_gold_request
from archiveflow.operators.base import ArchiveflowOperator
from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

GOLD_TABLES = ("gold_daily", "gold_top_repos", "gold_hourly")
# The Gold tables, then one MERGE per table (each replaces a day's rows).
GOLD_SQL = [f"github_lakehouse/{name}_{step}.sql" for step in ("table", "merge") for name in GOLD_TABLES]
# The same, each table's day deleted before its MERGE: for days Silver rows moved away from.
GOLD_REPLACING_SQL = [f"github_lakehouse/{name}_{step}.sql" for step in ("table", "clear", "merge")
                      for name in GOLD_TABLES]
SILVER_EVENT_TIME_SQL = "github_lakehouse/silver_event_time_merge.sql"


# Silver events newer than the run's trigger point read back (more in a few seconds means a burst
# whose later events triggered runs of their own).
LATE_EVENTS_READ = 200


def triggering_extras(context) -> list[dict]:
    events = context.get("triggering_asset_events") or {}
    return [dict(event.extra or {}) for asset_events in events.values() for event in asset_events]


def late_extras(context, asset) -> list[dict]:
    """Silver events that arrived after this run's trigger point, before the run existed. Airflow
    3.3 leaves them to no run until a later Silver event comes (apache/airflow#56050): recomputing
    their days here (idempotent) keeps the end of a backfill from missing Gold."""
    run_after = context["dag_run"].run_after
    events = context["inlet_events"][asset].after(run_after.isoformat()).limit(LATE_EVENTS_READ)
    return [dict(event.extra or {}) for event in events]


class PlanGoldDaysOperator(ArchiveflowOperator):
    """Returns one `{"sql": [...], "parameters": {"ingest_dt": day}, "asset_extra": {"days": [day]}}`
    per day, for `LakehouseSqlOperator.partial(...).expand_kwargs(...)`. Its `inlets` (the Silver Asset) are read
    for events that arrived after the run's trigger point."""

    def run(self, context) -> list[dict]:
        request = parse_gold_request(context["params"])
        extras = triggering_extras(context)
        late = [] if request.days else [e for asset in self.inlets for e in late_extras(context, asset)]
        if late:
            self.log.info("%s Silver event(s) arrived after this run's trigger point: their days too", len(late))
        days = gold_days(request, extras + late)
        if not days:
            raise BadRequest("days", "no day to recompute: give `days` (a manual run) or let Silver updates "
                             f"trigger the DAG (triggering events' extra: {extras})")
        self.log.info("recomputing Gold for %s day(s): %s (from %s)%s", len(days), days,
                      "the conf" if request.days else f"{len(extras)} Silver asset event(s)",
                      ", after moving Silver to event time" if request.recompute_event_time else "")
        sql = GOLD_REPLACING_SQL if request.recompute_event_time else GOLD_SQL
        return [{"sql": sql, "parameters": {"ingest_dt": day}, "asset_extra": {"days": [day]}} for day in days]


class SilverToEventTimeOperator(LakehouseSqlOperator):
    """`silver_event_time_merge.sql` when the run asks for `recompute_event_time`; nothing otherwise."""

    def __init__(self, **kwargs) -> None:
        super().__init__(sql=SILVER_EVENT_TIME_SQL, **kwargs)

    def run(self, context) -> list[dict]:
        if not parse_gold_request(context["params"]).recompute_event_time:
            self.log.info("recompute_event_time is off: Silver is left as it is")
            return []
        return super().run(context)

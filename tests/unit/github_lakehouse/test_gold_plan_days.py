"""github_gold's plan_days: the days of the triggering Silver events, plus those of Silver events
that arrived after the run's trigger point (Airflow 3.3 strands them, apache/airflow#56050); a
manual run's `days` only."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from archiveflow.assets import GITHUB_EVENTS_SILVER
from archiveflow.operators.github_gold import PlanGoldDaysOperator


class SilverEvents:
    """The `inlet_events[asset]` accessor: `.after(iso).limit(n)`, iterable."""

    def __init__(self, events: list[tuple[dt.datetime, dict]]):
        self.events, self.asked = events, []

    def after(self, moment: str):
        self.asked.append(moment)
        return SimpleNamespace(limit=lambda n: [SimpleNamespace(extra=extra) for at, extra in self.events
                                                if at > dt.datetime.fromisoformat(moment)][:n])


def context(params: dict, triggering: list[dict], later: list[tuple[dt.datetime, dict]], run_after: dt.datetime):
    silver = SilverEvents(later)
    return {"params": params, "run_id": "t", "dag_run": SimpleNamespace(run_after=run_after),
            "triggering_asset_events": {GITHUB_EVENTS_SILVER: [SimpleNamespace(extra=e) for e in triggering]},
            "inlet_events": {GITHUB_EVENTS_SILVER: silver}}, silver


def test_days_of_late_silver_events_are_recomputed_too():
    run_after = dt.datetime(2026, 12, 2, 3, 11, 34, tzinfo=dt.UTC)
    later = [(run_after - dt.timedelta(seconds=5), {"days": ["2024-01-13"]}),   # consumed by an earlier run
             (run_after + dt.timedelta(seconds=1), {"days": ["2024-01-16"]}),
             (run_after + dt.timedelta(seconds=2), {"days": ["2024-01-15"]})]
    ctx, silver = context({}, [{"days": ["2024-01-15"]}], later, run_after)
    plan = PlanGoldDaysOperator(task_id="plan_days", inlets=[GITHUB_EVENTS_SILVER]).execute(ctx)
    assert [p["parameters"]["ingest_dt"] for p in plan] == ["2024-01-15", "2024-01-16"]
    assert silver.asked == [run_after.isoformat()]


def test_a_manual_run_recomputes_its_days_only():
    run_after = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    ctx, silver = context({"days": ["2024-01-10"]}, [], [(run_after + dt.timedelta(seconds=1), {"days": ["2024-01-16"]})],
                          run_after)
    plan = PlanGoldDaysOperator(task_id="plan_days", inlets=[GITHUB_EVENTS_SILVER]).execute(ctx)
    assert [p["parameters"]["ingest_dt"] for p in plan] == ["2024-01-10"] and silver.asked == []


def test_no_day_at_all_is_refused_naming_the_field():
    from airflow.sdk.exceptions import AirflowFailException

    ctx, _ = context({}, [], [], dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    with pytest.raises(AirflowFailException, match="days"):
        PlanGoldDaysOperator(task_id="plan_days", inlets=[GITHUB_EVENTS_SILVER]).execute(ctx)

-- A day of github_events_gold_top_repos deleted, before it is merged again from Silver, when github_gold
-- moves Silver to event time (recompute_event_time): a key that has no event left on the day
-- must not keep its old row. :ingest_dt is the day ('2024-01-15').
DELETE FROM github_events_gold_top_repos WHERE ingest_dt = CAST(:ingest_dt AS date)

-- One day of github_events_gold_daily recomputed from Silver. Silver only grows, so every
-- (type, repository) row of the day is in the source: matched rows take the new count, new ones
-- are inserted, and a re-run writes the same figures. :ingest_dt is the day ('2024-01-15').
MERGE INTO github_events_gold_daily AS t
USING (
  SELECT ingest_dt, event_type, repo_name, count(*) AS events_count
  FROM github_events_silver
  WHERE ingest_dt = CAST(:ingest_dt AS date)
  GROUP BY ingest_dt, event_type, repo_name
) AS s
ON t.ingest_dt = s.ingest_dt AND t.event_type = s.event_type AND t.repo_name IS NOT DISTINCT FROM s.repo_name
WHEN MATCHED THEN UPDATE SET events_count = s.events_count
WHEN NOT MATCHED THEN INSERT (ingest_dt, event_type, repo_name, events_count)
VALUES (s.ingest_dt, s.event_type, s.repo_name, s.events_count)

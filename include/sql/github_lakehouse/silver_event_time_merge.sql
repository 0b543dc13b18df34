-- Silver rows written before Silver filed events under their own time: each row whose ingest_dt
-- is not the UTC day of its created_at is moved to that day (github_gold's recompute_event_time,
-- then Gold of the days concerned is recomputed). A re-run finds nothing to move. year and month
-- were always those of created_at, so every row stays in its partition.
MERGE INTO github_events_silver AS t
USING (
  SELECT id, event_type, created_at, repo_id, repo_name, actor_id, actor_login, payload_action, payload_raw,
         CAST(created_at AS date) AS ingest_dt, year, month
  FROM github_events_silver
  WHERE ingest_dt <> CAST(created_at AS date)
) AS s
ON t.id = s.id AND t.year = s.year AND t.month = s.month
WHEN MATCHED THEN UPDATE SET ingest_dt = s.ingest_dt
{% include 'github_lakehouse/_silver_insert.sql' %}

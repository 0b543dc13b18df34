-- One day of github_events_gold_hourly recomputed from Silver, upserted by (hour, type).
-- :ingest_dt is the day ('2024-01-15').
MERGE INTO github_events_gold_hourly AS t
USING (
  SELECT ingest_dt,
         CAST(hour(created_at) AS integer) AS event_hour,
         event_type,
         count(*) AS events_count,
         count(DISTINCT actor_id) AS actors_count,
         count(DISTINCT repo_id) AS repos_count
  FROM github_events_silver
  WHERE ingest_dt = CAST(:ingest_dt AS date)
  GROUP BY ingest_dt, hour(created_at), event_type
) AS s
ON t.ingest_dt = s.ingest_dt AND t.event_hour = s.event_hour AND t.event_type = s.event_type
WHEN MATCHED THEN UPDATE SET events_count = s.events_count, actors_count = s.actors_count,
  repos_count = s.repos_count
WHEN NOT MATCHED THEN INSERT (ingest_dt, event_hour, event_type, events_count, actors_count, repos_count)
VALUES (s.ingest_dt, s.event_hour, s.event_type, s.events_count, s.actors_count, s.repos_count)

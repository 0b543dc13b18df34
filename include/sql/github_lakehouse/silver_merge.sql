-- One Bronze object (an hour of GH Archive, or one Events API poll) into Silver. An event id
-- already in Silver is never inserted again, whichever hour or day it came from, so a re-run
-- inserts nothing; copies inside the object are reduced to one first.
-- :ingest_dt is the Bronze partition ('2024-01-15'), :bronze_object the object's s3:// URL.
MERGE INTO github_events_silver AS t
USING (
  SELECT id, event_type, created_at, repo_id, repo_name, actor_id, actor_login, payload_action,
         payload_raw, ingest_dt, year(created_at) AS year, month(created_at) AS month
  FROM (
    SELECT id,
           type AS event_type,
           CAST(from_iso8601_timestamp(created_at) AS timestamp) AS created_at,
           repo_id,
           repo_name,
           actor_id,
           actor_login,
           json_extract_scalar(payload_raw, '$.action') AS payload_action,
           payload_raw,
           CAST(ingest_dt AS date) AS ingest_dt,
           row_number() OVER (PARTITION BY id ORDER BY created_at) AS copy
    FROM github_events_bronze
    WHERE ingest_dt = :ingest_dt AND "$path" = :bronze_object
  ) AS bronze
  WHERE copy = 1
) AS s
ON t.id = s.id AND t.year = s.year AND t.month = s.month
WHEN NOT MATCHED THEN INSERT
  (id, event_type, created_at, repo_id, repo_name, actor_id, actor_login, payload_action, payload_raw,
   ingest_dt, year, month)
VALUES
  (s.id, s.event_type, s.created_at, s.repo_id, s.repo_name, s.actor_id, s.actor_login, s.payload_action,
   s.payload_raw, s.ingest_dt, s.year, s.month)

-- One Bronze object (an hour of GH Archive, or one Events API poll) into Silver. An event id
-- already in Silver is never inserted again, whichever hour, day or source it came from, so a
-- re-run inserts nothing; copies inside the object are reduced to one first. Every column comes
-- from the event, never from where or when it arrived: `ingest_dt`, `year` and `month` are those
-- of `created_at` in UTC, so an event has the same row whichever source delivered it first.
-- A line whose created_at is not a time Bronze accepts (written before Bronze checked it) is
-- skipped: the same pattern (:created_at_pattern, archiveflow.github_lakehouse.bronze) and parse.
-- :ingest_dt is the Bronze partition ('2024-01-15'), :bronze_object the object's s3:// URL.
MERGE INTO github_events_silver AS t
USING (
  SELECT id, event_type, created_at, repo_id, repo_name, actor_id, actor_login, payload_action,
         payload_raw, CAST(created_at AS date) AS ingest_dt, year(created_at) AS year,
         month(created_at) AS month
  FROM (
    SELECT id,
           type AS event_type,
           CAST(try(from_iso8601_timestamp(created_at)) AT TIME ZONE 'UTC' AS timestamp) AS created_at,
           repo_id,
           repo_name,
           actor_id,
           actor_login,
           json_extract_scalar(payload_raw, '$.action') AS payload_action,
           payload_raw,
           row_number() OVER (PARTITION BY id ORDER BY created_at) AS copy
    FROM github_events_bronze
    WHERE ingest_dt = :ingest_dt AND "$path" = :bronze_object AND regexp_like(created_at, :created_at_pattern)
  ) AS bronze
  WHERE copy = 1 AND created_at IS NOT NULL
) AS s
ON t.id = s.id AND t.year = s.year AND t.month = s.month
{% include 'github_lakehouse/_silver_insert.sql' %}

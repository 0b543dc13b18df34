-- Not a statement: the insert clause of the MERGEs into Silver from a source `s` with Silver's
-- columns (silver_merge.sql, silver_event_time_merge.sql), included by both.
WHEN NOT MATCHED THEN INSERT
  (id, event_type, created_at, repo_id, repo_name, actor_id, actor_login, payload_action, payload_raw,
   ingest_dt, year, month)
VALUES
  (s.id, s.event_type, s.created_at, s.repo_id, s.repo_name, s.actor_id, s.actor_login, s.payload_action,
   s.payload_raw, s.ingest_dt, s.year, s.month)

-- github_events_silver: the seed's Silver table, typed and deduplicated by event id; an Iceberg
-- table (Parquet, zstd) partitioned year=/month= of the event's time. `ingest_dt` is the event's
-- day (created_at, UTC; Gold aggregates by it), whichever Bronze partition or source it arrived in
-- (the name is the seed's Gold partition's). {{ lakehouse }} is
-- s3://<lakehouse bucket>/. Run by Athena on AWS; the local engine builds the same Iceberg table
-- with pyiceberg from this statement.
CREATE TABLE IF NOT EXISTS github_events_silver (
  id string,
  event_type string,
  created_at timestamp,
  repo_id bigint,
  repo_name string,
  actor_id bigint,
  actor_login string,
  payload_action string,
  payload_raw string,
  ingest_dt date,
  year int,
  month int
)
PARTITIONED BY (year, month)
LOCATION '{{ lakehouse }}github/silver/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')

-- github_events_gold_hourly: events per hour of the day (UTC) and type, with distinct actors and
-- repositories; an Iceberg table partitioned by ingest_dt.
-- {{ lakehouse }} is s3://<lakehouse bucket>/.
CREATE TABLE IF NOT EXISTS github_events_gold_hourly (
  ingest_dt date,
  event_hour int,
  event_type string,
  events_count bigint,
  actors_count bigint,
  repos_count bigint
)
PARTITIONED BY (ingest_dt)
LOCATION '{{ lakehouse }}github/gold/hourly/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')

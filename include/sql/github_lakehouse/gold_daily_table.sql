-- github_events_gold_daily: the seed's Gold table, events per day, type and repository; an
-- Iceberg table partitioned by ingest_dt. {{ lakehouse }} is s3://<lakehouse bucket>/.
CREATE TABLE IF NOT EXISTS github_events_gold_daily (
  ingest_dt date,
  event_type string,
  repo_name string,
  events_count bigint
)
PARTITIONED BY (ingest_dt)
LOCATION '{{ lakehouse }}github/gold/daily/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')

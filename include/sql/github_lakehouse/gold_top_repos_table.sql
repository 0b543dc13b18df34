-- github_events_gold_top_repos: the day's 100 most active repositories (events, distinct actors,
-- pushes), ranked; an Iceberg table partitioned by ingest_dt.
-- {{ lakehouse }} is s3://<lakehouse bucket>/.
CREATE TABLE IF NOT EXISTS github_events_gold_top_repos (
  ingest_dt date,
  repo_rank int,
  repo_name string,
  events_count bigint,
  actors_count bigint,
  pushes_count bigint
)
PARTITIONED BY (ingest_dt)
LOCATION '{{ lakehouse }}github/gold/top_repos/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')

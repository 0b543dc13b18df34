-- github_events_bronze: the seed's Bronze table (JSON lines, gzip, one partition per ingest_dt),
-- with partition projection so no crawler or MSCK REPAIR is ever needed.
-- On AWS the ingestion DAGs run this through Athena (the `lakehouse_sql` connection's engine);
-- on the local stack the same definition is created through the Glue API
-- (archiveflow.github_lakehouse.catalog parses this file). {{ database }} and {{ location }} are
-- the deployment's lakehouse Glue database and s3://<lakehouse bucket>/github/events/.
CREATE EXTERNAL TABLE IF NOT EXISTS `{{ database }}`.`github_events_bronze` (
  `id` string,
  `type` string,
  `created_at` string,
  `repo_id` bigint,
  `repo_name` string,
  `actor_id` bigint,
  `actor_login` string,
  `payload_raw` string
)
PARTITIONED BY (`ingest_dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{ location }}'
TBLPROPERTIES (
  'classification' = 'json',
  'compressionType' = 'gzip',
  'projection.enabled' = 'true',
  'projection.ingest_dt.type' = 'date',
  'projection.ingest_dt.format' = 'yyyy-MM-dd',
  'projection.ingest_dt.range' = '2011-02-12,NOW',
  'projection.ingest_dt.interval' = '1',
  'projection.ingest_dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{ location }}ingest_dt=${ingest_dt}/'
)

-- archive_catalog: every archived version of every file s3_deep_archive packed, one row each (the
-- contract is in ARCHITECTURE.md, "The archive catalog"). Written by the packing worker, one
-- commit per bundle. Partitioned by the source bucket and `key_prefix` (the key's first 8
-- characters): a look-up by bucket and key reads one partition, and inside it only the files
-- whose source_key bounds hold the key (a bundle is a contiguous key range). {{ warehouse }} is
-- s3://<warehouse bucket>/. Athena runs it on AWS; the local engine builds the same table with pyiceberg.
CREATE TABLE IF NOT EXISTS archive_catalog (
  source_bucket string,
  key_prefix string,
  source_key string,
  file_name string,
  version string,
  source_etag string,
  source_last_modified timestamp,
  size bigint,
  project_name string,
  plan_id string,
  archive_bucket string,
  archive_key string,
  archive_format string,
  storage_class string,
  member_name string,
  header_offset bigint,
  compressed_size bigint,
  crc32 bigint,
  compression string,
  archived_at timestamp
)
PARTITIONED BY (source_bucket, key_prefix)
LOCATION '{{ warehouse }}archive_catalog/'
TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')

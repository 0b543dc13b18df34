-- The archive page's search: every archived version of the files whose key starts with :prefix, in
-- (bucket, key, version) order, after the page cursor (:after_bucket, :after_key), at most :row_limit
-- rows. The key_prefix range keeps it to the partitions the prefix falls in (one partition for a
-- prefix of 8 characters or more), the source_key range to the data files whose bounds hold it.
-- :key_prefix_end / :prefix_end are the bounds' successors (archiveflow.archive_page.search).
-- A filter given as NULL filters nothing.
SELECT source_bucket, source_key, file_name, version, source_last_modified, size, project_name, archive_bucket,
       archive_key, archive_format, storage_class, archived_at
FROM archive_catalog
WHERE key_prefix >= :key_prefix AND key_prefix < :key_prefix_end
  AND source_key >= :prefix AND source_key < :prefix_end
  AND (:bucket IS NULL OR source_bucket = :bucket)
  AND (:project_name IS NULL OR project_name = :project_name)
  AND (:storage_class IS NULL OR storage_class = :storage_class)
  AND (source_bucket > :after_bucket OR (source_bucket = :after_bucket AND source_key > :after_key))
ORDER BY source_bucket, source_key, version
LIMIT :row_limit

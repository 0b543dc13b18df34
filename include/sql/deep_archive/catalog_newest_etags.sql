-- The planner's "already archived?" check for one listing page: the ETag of the newest archived
-- version of each key of :bucket between :first_key and :last_key (the page, in key order).
-- The key_prefix bounds keep it to the partitions the page falls in.
SELECT source_key, max_by(source_etag, version) AS source_etag
FROM archive_catalog
WHERE source_bucket = :bucket
  AND key_prefix BETWEEN :first_prefix AND :last_prefix
  AND source_key BETWEEN :first_key AND :last_key
GROUP BY source_key

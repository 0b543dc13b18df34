-- What was archived each month (UTC) and in which storage class: files, bytes and bundles, for the
-- archive page's "what archiving saved" (priced by archiveflow.deep_archive.cost). Reads four columns
-- of every row: on Athena a scan of those columns, billed by the bytes scanned.
SELECT date_format(archived_at, '%Y-%m') AS month, storage_class, count(*) AS files, sum(size) AS bytes,
       count(DISTINCT archive_key) AS bundles
FROM archive_catalog
GROUP BY date_format(archived_at, '%Y-%m'), storage_class
ORDER BY month, storage_class

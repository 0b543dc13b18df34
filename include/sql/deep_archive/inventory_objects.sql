-- The current objects under :prefix of an S3 Inventory report (the view inventory_files), in key order.
-- CSV reports URL-encode keys (a space as '+', a '+' as %2B: DuckDB's url_decode leaves '+'); a report of all versions also holds old versions and delete markers
-- (whose size is empty, hence TRY_CAST).
SELECT key, size, e_tag, last_modified, storage_class
FROM (
    SELECT
        CASE WHEN :url_encoded THEN url_decode(replace(key, '+', ' ')) ELSE key END AS key,
        TRY_CAST(size AS BIGINT) AS size,
        e_tag,
        CAST(last_modified_date AS TIMESTAMP) AS last_modified,
        COALESCE(storage_class, 'STANDARD') AS storage_class,
        CAST(is_latest AS BOOLEAN) AS is_latest,
        CAST(is_delete_marker AS BOOLEAN) AS is_delete_marker
    FROM inventory_files
) AS objects
WHERE is_latest AND NOT is_delete_marker AND starts_with(key, :prefix)
ORDER BY key

-- The current objects under :prefix of an S3 Inventory report (the table {{ inventory }}), in no order.
-- CSV reports URL-encode keys (a space as '+', a '+' as %2B: DuckDB's url_decode leaves '+'); a report of all versions also holds old versions and delete markers
-- (whose size is empty, hence TRY_CAST); a report of current versions only has no is_latest and
-- is_delete_marker (null in Athena's table of it).
SELECT key, size, e_tag, last_modified, storage_class
FROM (
    SELECT
        CASE WHEN :url_encoded THEN url_decode(replace(key, '+', ' ')) ELSE key END AS key,
        TRY_CAST(size AS BIGINT) AS size,
        e_tag,
        CASE WHEN :url_encoded  -- CSV: ISO text ('...T...Z'), which Athena's CAST does not read
             THEN CAST(replace(replace(CAST(last_modified_date AS VARCHAR), 'T', ' '), 'Z', '') AS TIMESTAMP)
             ELSE CAST(last_modified_date AS TIMESTAMP) END AS last_modified,
        COALESCE(storage_class, 'STANDARD') AS storage_class,
        COALESCE(CAST(is_latest AS BOOLEAN), TRUE) AS is_latest,
        COALESCE(CAST(is_delete_marker AS BOOLEAN), FALSE) AS is_delete_marker
    FROM {{ inventory }}
) AS objects
WHERE is_latest AND NOT is_delete_marker AND starts_with(key, :prefix)

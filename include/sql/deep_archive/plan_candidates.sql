-- The SQL plan's first step: every current object of :bucket under :prefix in its S3 Inventory report
-- (the table {{ inventory }}) with why it is archived or skipped, decided against the newest archived
-- version of its key in archive_catalog (an anti-join): 'indexed' when that version has the object's
-- ETag and size (the same content: rewritten with the same bytes is not archived again, as in the
-- dynamodb index mode, which keeps only the ETag), 'unreadable_class' (Glacier, Deep Archive), 'new'
-- (never archived) or 'rewritten' (archived, changed since). Folder markers and the keys of other
-- sources (:elsewhere, a regular expression of their prefixes, '' for none) are left out. The catalog
-- is read in the partitions of :partition_prefix (the prefix's first 8 characters) only.
SELECT
    o.key, o.size, o.e_tag, o.last_modified,
    CASE
        WHEN a.source_etag = o.e_tag AND a.size = o.size THEN 'indexed'
        WHEN o.storage_class IN ('GLACIER', 'DEEP_ARCHIVE') THEN 'unreadable_class'
        WHEN a.source_key IS NULL THEN 'new'
        ELSE 'rewritten'
    END AS reason
FROM (
    SELECT key, size, CASE WHEN starts_with(e_tag, '"') THEN e_tag ELSE '"' || e_tag || '"' END AS e_tag,
           last_modified, storage_class
    FROM ({% include 'deep_archive/inventory_current.sql' %}) AS current_objects
    WHERE NOT (substr(key, length(key)) = '/' AND size = 0)
      AND (:elsewhere = '' OR NOT regexp_like(key, :elsewhere))
) AS o
LEFT JOIN (
    SELECT source_key, max_by(source_etag, version) AS source_etag, max_by(size, version) AS size
    FROM archive_catalog
    WHERE source_bucket = :bucket AND starts_with(key_prefix, :partition_prefix) AND starts_with(source_key, :prefix)
    GROUP BY source_key
) AS a ON a.source_key = o.key

-- The bundling rule of archiveflow.deep_archive.bundling over the objects to archive (the table
-- plan_objects: key, size, e_tag, last_modified, reason), in key order: an object over :alone_bytes is
-- archived alone (bundle_bytes and bundle_files -1, no position); the others get position (how many come
-- before it) and the running sum of the sizes before it, and their bundle is the pair
-- (bundle_bytes, bundle_files) = (bytes before / :window_bytes, position / :file_count), both rounded
-- down: both only grow in key order, so a bundle is a run of consecutive positions (one window pass,
-- no numbering: plan_units.sql numbers the few bundles).
SELECT key, size, e_tag, last_modified, reason, position,
       CAST(FLOOR(bytes_before / :window_bytes) AS BIGINT) AS bundle_bytes,
       CAST(FLOOR(position / :file_count) AS BIGINT) AS bundle_files
FROM (
    SELECT
        key, size, e_tag, last_modified, reason,
        COALESCE(SUM(size) OVER (ORDER BY key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before,
        ROW_NUMBER() OVER (ORDER BY key) - 1 AS position
    FROM plan_objects
    WHERE size <= :alone_bytes
) AS bundled
UNION ALL
SELECT key, size, e_tag, last_modified, reason, CAST(NULL AS BIGINT) AS position, -1 AS bundle_bytes, -1 AS bundle_files
FROM plan_objects
WHERE size > :alone_bytes

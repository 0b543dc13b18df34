-- The bundling rule of archiveflow.deep_archive.bundling over the objects to archive (the table
-- plan_objects: key, size, e_tag, last_modified, reason), in key order: an object over :alone_bytes is
-- archived alone (bundle -1); the others get the running sums bytes_before and position, and their
-- bundle is the rank of the pair (bytes_before / :window_bytes, position / :file_count), both rounded down.
SELECT key, size, e_tag, last_modified, reason,
       DENSE_RANK() OVER (ORDER BY FLOOR(bytes_before / :window_bytes), FLOOR(position / :file_count)) - 1 AS bundle
FROM (
    SELECT
        key, size, e_tag, last_modified, reason,
        COALESCE(SUM(size) OVER (ORDER BY key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before,
        ROW_NUMBER() OVER (ORDER BY key) - 1 AS position
    FROM plan_objects
    WHERE size <= :alone_bytes
) AS bundled
UNION ALL
SELECT key, size, e_tag, last_modified, reason, -1 AS bundle
FROM plan_objects
WHERE size > :alone_bytes

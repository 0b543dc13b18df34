-- The bundling rule of archiveflow.deep_archive.bundling over the objects to archive (the table
-- plan_objects: key, size, e_tag, last_modified, reason), in key order: an object over :alone_bytes is
-- archived alone (bundle_bytes and bundle_files -1, no position); the others get position (how many come
-- before it) and the running sum of the sizes before it, and their bundle is the pair
-- (bundle_bytes, bundle_files) = (bytes before / :window_bytes, position / :file_count), both rounded
-- down: both only grow in key order, so a bundle is a run of consecutive positions (plan_units.sql
-- numbers the few bundles).
-- The running sums are computed in parallel, as a prefix sum: the key's first :range_chars characters
-- name its key range (a fixed-length prefix: ranges follow key order), each range's window runs on its
-- own worker (PARTITION BY), and a range's offsets (the files and bytes of the ranges before it) come
-- from its totals, one row per range. The bundles are the same for any :range_chars; a bundle may
-- span ranges.
SELECT key, size, e_tag, last_modified, reason, position,
       CAST(FLOOR(bytes_before / :window_bytes) AS BIGINT) AS bundle_bytes,
       CAST(FLOOR(position / :file_count) AS BIGINT) AS bundle_files
FROM (
    SELECT key, size, e_tag, last_modified, reason,
           range_start.bytes_before + in_range.bytes_before AS bytes_before,
           range_start.position + in_range.position AS position
    FROM (
        SELECT key, size, e_tag, last_modified, reason, substr(key, 1, :range_chars) AS key_range,
               SUM(size) OVER (PARTITION BY substr(key, 1, :range_chars) ORDER BY key ROWS UNBOUNDED PRECEDING) - size
                   AS bytes_before,
               ROW_NUMBER() OVER (PARTITION BY substr(key, 1, :range_chars) ORDER BY key) - 1 AS position
        FROM plan_objects
        WHERE size <= :alone_bytes
    ) AS in_range
    JOIN (
        SELECT key_range,
               SUM(bytes) OVER (ORDER BY key_range ROWS UNBOUNDED PRECEDING) - bytes AS bytes_before,
               SUM(files) OVER (ORDER BY key_range ROWS UNBOUNDED PRECEDING) - files AS position
        FROM (
            SELECT substr(key, 1, :range_chars) AS key_range, sum(size) AS bytes, count(*) AS files
            FROM plan_objects
            WHERE size <= :alone_bytes
            GROUP BY substr(key, 1, :range_chars)
        ) AS range_totals
    ) AS range_start ON range_start.key_range = in_range.key_range
) AS bundled
UNION ALL
SELECT key, size, e_tag, last_modified, reason, CAST(NULL AS BIGINT) AS position, -1 AS bundle_bytes, -1 AS bundle_files
FROM plan_objects
WHERE size > :alone_bytes

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
-- span ranges. Objects alone are in the same pass (their sizes and counts left out of the sums):
-- plan_objects is read twice (Athena scans the report and the catalog once per reference).
SELECT key, size, e_tag, last_modified, reason,
       CASE WHEN alone THEN NULL ELSE position END AS position,
       CASE WHEN alone THEN -1 ELSE CAST(FLOOR(bytes_before / :window_bytes) AS BIGINT) END AS bundle_bytes,
       CASE WHEN alone THEN -1 ELSE CAST(FLOOR(position / :file_count) AS BIGINT) END AS bundle_files
FROM (
    SELECT key, size, e_tag, last_modified, reason, alone,
           range_start.bytes_before + in_range.bytes_before AS bytes_before,
           CAST(range_start.position + in_range.position AS BIGINT) AS position  -- DuckDB's sums are 128-bit
    FROM (
        SELECT key, size, e_tag, last_modified, reason, alone, key_range,
               SUM(bundled_size) OVER (PARTITION BY key_range ORDER BY key ROWS UNBOUNDED PRECEDING) - bundled_size
                   AS bytes_before,
               SUM(bundled) OVER (PARTITION BY key_range ORDER BY key ROWS UNBOUNDED PRECEDING) - bundled AS position
        FROM (
            SELECT key, size, e_tag, last_modified, reason, size > :alone_bytes AS alone,
                   substr(key, 1, :range_chars) AS key_range,
                   CASE WHEN size > :alone_bytes THEN 0 ELSE size END AS bundled_size,
                   CASE WHEN size > :alone_bytes THEN 0 ELSE 1 END AS bundled
            FROM plan_objects
        ) AS sized
    ) AS in_range
    JOIN (
        SELECT key_range,
               SUM(bytes) OVER (ORDER BY key_range ROWS UNBOUNDED PRECEDING) - bytes AS bytes_before,
               SUM(files) OVER (ORDER BY key_range ROWS UNBOUNDED PRECEDING) - files AS position
        FROM (
            SELECT substr(key, 1, :range_chars) AS key_range, sum(CASE WHEN size > :alone_bytes THEN 0 ELSE size END) AS bytes,
                   count_if(size <= :alone_bytes) AS files
            FROM plan_objects
            GROUP BY substr(key, 1, :range_chars)
        ) AS range_totals
    ) AS range_start ON range_start.key_range = in_range.key_range
) AS bundled

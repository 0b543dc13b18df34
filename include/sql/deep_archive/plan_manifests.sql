-- The SQL plan's manifests, written to S3 by the engine: the bundled objects' rows (key, size, etag,
-- last_modified, position) as Parquet under :location, sorted by position, in folders of
-- :rows_per_group consecutive positions (position_group=G/: an UNLOAD writes at most 100 partitions).
-- A bundle is the rows between its first and last position (plan_units.sql): the packing worker reads
-- only the row groups whose position statistics overlap them. Objects archived alone need none.
UNLOAD (
    WITH candidates AS (
        {% include 'deep_archive/plan_candidates.sql' %}
    ), plan_objects AS (
        SELECT * FROM candidates WHERE reason IN ('new', 'rewritten')
    )
    SELECT key, size, e_tag AS etag, last_modified, position,
           CAST(FLOOR(position / :rows_per_group) AS BIGINT) AS position_group
    FROM ({% include 'deep_archive/plan_bundles.sql' %}) AS planned
    WHERE position IS NOT NULL
    ORDER BY position
)
TO :location
WITH (format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY['position_group'])

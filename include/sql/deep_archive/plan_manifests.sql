-- The SQL plan's manifests, written to S3 by the engine: the bundles' rows (key, size, etag,
-- last_modified, bundle) as Parquet under :location, in folders of :bundles_per_group consecutive
-- bundles (bundle_group=G/: an UNLOAD writes at most 100 partitions), sorted by bundle so that each
-- row group holds few bundles: the packing worker reads only the row groups whose bundle statistics
-- hold its own. Objects archived alone need none (plan_units.sql gives their rows).
UNLOAD (
    WITH candidates AS (
        {% include 'deep_archive/plan_candidates.sql' %}
    ), plan_objects AS (
        SELECT * FROM candidates WHERE reason IN ('new', 'rewritten')
    )
    SELECT key, size, e_tag AS etag, last_modified, bundle, CAST(FLOOR(bundle / :bundles_per_group) AS BIGINT) AS bundle_group
    FROM ({% include 'deep_archive/plan_bundles.sql' %}) AS planned
    WHERE bundle >= 0
    ORDER BY bundle, key
)
TO :location
WITH (format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY['bundle_group'])

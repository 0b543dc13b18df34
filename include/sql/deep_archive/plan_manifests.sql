-- The SQL plan's manifests, written to S3 by the engine: one folder per bundle under :location
-- (bundle=N/, Parquet files of key, size, etag, last_modified), read by the packing worker.
-- Objects archived alone need none (plan_units.sql gives their rows).
UNLOAD (
    WITH candidates AS (
        {% include 'deep_archive/plan_candidates.sql' %}
    ), plan_objects AS (
        SELECT * FROM candidates WHERE reason IN ('new', 'rewritten')
    )
    SELECT key, size, e_tag AS etag, last_modified, bundle
    FROM ({% include 'deep_archive/plan_bundles.sql' %}) AS planned
    WHERE bundle >= 0
)
TO :location
WITH (format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY['bundle'])

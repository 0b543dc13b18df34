-- The SQL plan's units, for the plan object (small: one row per bundle, per object archived alone,
-- and per reason objects are skipped). A bundle's row: its files, bytes, how many were rewritten since
-- archived, its first and last key and position (plan_manifests.sql's rows between them are its
-- manifest) and its newest last_modified (a re-plan of changed objects gets a different bundle name).
-- An object alone (alone = true): its own row. Both statements compute from the same inputs.
WITH candidates AS (
    {% include 'deep_archive/plan_candidates.sql' %}
), plan_objects AS (
    -- The ETag only where a unit shows it (an object alone): the bundling window sorts narrower rows.
    SELECT key, size, CASE WHEN size > :alone_bytes THEN e_tag END AS e_tag, last_modified, reason
    FROM candidates
    WHERE reason IN ('new', 'rewritten')
), planned AS (
    {% include 'deep_archive/plan_bundles.sql' %}
)
SELECT NULL AS skipped, bundle_bytes = -1 AS alone, count(*) AS files, sum(size) AS bytes,
       count_if(reason = 'rewritten') AS rewritten, min(key) AS first_key, max(key) AS last_key,
       min(position) AS first_position, max(position) AS last_position,
       max(last_modified) AS last_modified, min(e_tag) AS e_tag
FROM planned
GROUP BY bundle_bytes, bundle_files, CASE WHEN bundle_bytes = -1 THEN key END
UNION ALL
SELECT reason AS skipped, NULL AS alone, count(*) AS files, sum(size) AS bytes, 0 AS rewritten,
       NULL AS first_key, NULL AS last_key, NULL AS first_position, NULL AS last_position,
       NULL AS last_modified, NULL AS e_tag
FROM candidates
WHERE reason NOT IN ('new', 'rewritten')
GROUP BY reason

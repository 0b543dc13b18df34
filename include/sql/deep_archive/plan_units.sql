-- The SQL plan's units, for the plan object (small: one row per bundle, per object archived alone,
-- and per reason an object is skipped). A bundle's row: its number, files, bytes, how many were
-- rewritten since archived, its first and last key and its newest last_modified (a re-plan of changed
-- objects gets a different bundle name). An object alone (bundle -1): its own row. The rows to
-- archive are plan_manifests.sql's, computed from the same snapshot of the inventory and the catalog.
WITH candidates AS (
    {% include 'deep_archive/plan_candidates.sql' %}
), plan_objects AS (
    SELECT * FROM candidates WHERE reason IN ('new', 'rewritten')
), planned AS (
    {% include 'deep_archive/plan_bundles.sql' %}
)
SELECT NULL AS skipped, bundle, count(*) AS files, sum(size) AS bytes,
       count_if(reason = 'rewritten') AS rewritten, min(key) AS first_key, max(key) AS last_key,
       max(last_modified) AS last_modified, min(e_tag) AS e_tag
FROM planned
GROUP BY bundle, CASE WHEN bundle = -1 THEN key END
UNION ALL
SELECT reason AS skipped, NULL AS bundle, count(*) AS files, sum(size) AS bytes, 0 AS rewritten,
       NULL AS first_key, NULL AS last_key, NULL AS last_modified, NULL AS e_tag
FROM candidates
WHERE reason NOT IN ('new', 'rewritten')
GROUP BY reason

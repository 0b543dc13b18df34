-- Top 10 most active repositories of a day (:day instead of CURRENT_DATE).
SELECT repo_name, SUM(events_count) AS activity
FROM github_events_gold_daily
WHERE ingest_dt = CAST(:day AS date)
GROUP BY repo_name
ORDER BY activity DESC, repo_name
LIMIT 10

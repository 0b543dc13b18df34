-- Top GitHub event types of a day (the seed's "today" query; :day instead of CURRENT_DATE).
SELECT event_type, SUM(events_count) AS total
FROM github_events_gold_daily
WHERE ingest_dt = CAST(:day AS date)
GROUP BY event_type
ORDER BY total DESC
LIMIT 10

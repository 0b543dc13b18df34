-- Event type distribution over the 7 days ending :day (CURRENT_DATE in the seed).
SELECT ingest_dt, event_type, SUM(events_count) AS total
FROM github_events_gold_daily
WHERE ingest_dt > CAST(:day AS date) - INTERVAL '7' DAY AND ingest_dt <= CAST(:day AS date)
GROUP BY ingest_dt, event_type
ORDER BY ingest_dt DESC, total DESC

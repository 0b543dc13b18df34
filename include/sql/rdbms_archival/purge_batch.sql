-- One batch of archived rows by primary key: {action} is DELETE, or SELECT count(*) for a dry run.
-- The condition is checked again so a row changed since the archive to no longer match is kept.
{action} FROM {table}
WHERE ({key}) IN (SELECT * FROM unnest({arrays}))
  AND {where}

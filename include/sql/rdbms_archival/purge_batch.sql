-- One batch of a purge: `archived` holds the key and row digest of the newest archived version
-- of each key. A row is deleted only if it matches the run's condition now and its digest,
-- computed inside the DELETE, equals the archived one: when a writer changed the row meanwhile,
-- PostgreSQL re-evaluates this on the newest row version (READ COMMITTED), so it is kept.
-- Returns (deleted, present): present = rows of the batch that match the condition, as of the
-- statement's start; present - deleted changed since they were archived.
WITH archived AS (
    SELECT * FROM unnest({arrays}) AS archived({archived_columns})
), deleted AS (
    DELETE FROM {table} USING archived
    WHERE ({key}) = ({archived_key}) AND ({where}) AND {digest} = archived.archiveflow_digest
    RETURNING 1
)
SELECT (SELECT count(*) FROM deleted),
       (SELECT count(*) FROM {table} JOIN archived ON ({key}) = ({archived_key}) WHERE {where})

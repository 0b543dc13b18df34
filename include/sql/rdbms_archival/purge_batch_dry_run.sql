-- purge_batch.sql without the DELETE: (would be deleted, present), then for each foreign key
-- that cascades, the rows of the referencing table the deletes would change.
WITH archived AS (
    SELECT * FROM unnest({arrays}) AS archived({archived_columns})
), present AS (
    SELECT {present_columns}, {digest} = archived.archiveflow_digest AS unchanged
    FROM {table} JOIN archived ON ({key}) = ({archived_key})
    WHERE {where}
)
SELECT count(*) FILTER (WHERE unchanged), count(*){cascades}
FROM present

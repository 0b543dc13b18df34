-- Foreign keys whose ON DELETE action changes rows of another table when a row of this one is
-- deleted (c = CASCADE, n = SET NULL, d = SET DEFAULT). One row per constraint as declared: the
-- copies PostgreSQL keeps for partitions (conparentid) are left out when their parent is listed.
SELECT c.conname AS name, rn.nspname AS schema, r.relname AS table, c.confdeltype AS action,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.i)::text[] AS columns,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
             ORDER BY k.i)::text[] AS referenced_columns
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.contype = 'f' AND c.confrelid = %(oid)s AND c.confdeltype IN ('c', 'n', 'd')
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint p
                  WHERE p.oid = c.conparentid AND p.confrelid = c.confrelid)
ORDER BY rn.nspname, r.relname, c.conname

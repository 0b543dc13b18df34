-- Tables (and views) of one schema, for resolving the names a run asks for.
SELECT c.oid, c.relname, c.relkind
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname

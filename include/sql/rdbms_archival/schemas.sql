-- Schemas of the database, for resolving `source_schema`.
SELECT nspname FROM pg_catalog.pg_namespace ORDER BY nspname

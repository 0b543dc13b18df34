-- User triggers on one table (listed in the validation output and the report: a purge fires DELETE ones).
SELECT t.tgname AS name, pg_catalog.pg_get_triggerdef(t.oid) AS definition
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = %(oid)s AND NOT t.tgisinternal
ORDER BY t.tgname

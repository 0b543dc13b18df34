-- Columns of one relation, in order, with what the type mapping needs (and the schema of the type:
-- an extension's type outside pg_catalog has operators the pinned search_path cannot see).
-- Domains are reported as their base type; arrays with their element type. numeric's scale is
-- decoded as PostgreSQL 15 does (11 signed bits: numeric(5, -2) has scale -2).
SELECT a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS declared_type,
       base.typname AS type_name,
       base.typtype AS type_kind,
       elem.typname AS element_type,
       elem.typtype AS element_kind,
       CASE WHEN base.typname = 'numeric' AND a.atttypmod >= 4
            THEN ((a.atttypmod - 4) >> 16) & 65535 END AS numeric_precision,
       CASE WHEN base.typname = 'numeric' AND a.atttypmod >= 4
            THEN (((a.atttypmod - 4) & 2047) # 1024) - 1024 END AS numeric_scale,
       NOT a.attnotnull AS nullable,
       base_ns.nspname AS type_schema
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
JOIN pg_catalog.pg_namespace base_ns ON base_ns.oid = base.typnamespace
LEFT JOIN pg_catalog.pg_type elem ON elem.oid = base.typelem AND base.typcategory = 'A'
WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum

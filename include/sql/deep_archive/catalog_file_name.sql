-- Every archived version of every file of a project whose name (the key's last segment) is :name,
-- oldest first (restore look-ups by bare name). No partition narrows it: it reads the project's
-- file_name column, which the dynamodb index mode answers by a key look-up instead.
SELECT source_bucket, source_key, version, source_etag, size, project_name, archive_bucket, archive_key,
       archive_format, storage_class, member_name, header_offset, compressed_size, crc32, compression
FROM archive_catalog
WHERE project_name = :project_name AND file_name = :name
ORDER BY source_bucket, source_key, version

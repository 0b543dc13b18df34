-- Every archived version of the given files of one bucket (restore look-ups by bucket/key), oldest
-- first. :key_prefixes are the keys' partition values (their first 8 characters): one partition
-- read per prefix, then only the data files whose source_key bounds hold a key.
SELECT source_bucket, source_key, version, source_etag, size, project_name, archive_bucket, archive_key,
       archive_format, storage_class, member_name, header_offset, compressed_size, crc32, compression
FROM archive_catalog
WHERE source_bucket = :bucket AND key_prefix IN (:key_prefixes) AND source_key IN (:keys)
ORDER BY source_key, version

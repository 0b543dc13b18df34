-- The current objects under :prefix of an S3 Inventory report, in key order (the Python planner's pages).
SELECT key, size, e_tag, last_modified, storage_class
FROM ({% include 'deep_archive/inventory_current.sql' %}) AS current_objects
ORDER BY key

"""Archive of items deleted from DynamoDB tables (their streams' REMOVE records, one S3 object per
item) and the restore of archived items. Plain Python: clients are passed in."""

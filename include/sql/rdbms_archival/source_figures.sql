-- Row count and one order-independent checksum per column (count of non-NULL values and the sum
-- of a per-value digest, see pgtypes.py) of the rows a run archives.
SELECT count(*) AS row_count, {figures}
FROM {table}
WHERE {where}

-- The rows a run archives, and each row's digest (row_digest.py); runs as
-- COPY (...) TO STDOUT (FORMAT binary) through ADBC.
SELECT {columns}, {digest}
FROM {table}
WHERE {where}

-- The rows a run archives; runs as COPY (...) TO STDOUT (FORMAT binary) through ADBC.
SELECT {columns}
FROM {table}
WHERE {where}

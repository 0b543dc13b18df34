"""RDBMS archival: PostgreSQL tables -> Iceberg tables (Glue catalog, S3).

Plain Python, no Airflow imports: the operators in `archiveflow.operators.rdbms_archival`
hand these modules their connections and clients.
"""

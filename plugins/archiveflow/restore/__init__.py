"""On-demand restores of files archived by s3_deep_archive (plain Python, no Airflow)."""

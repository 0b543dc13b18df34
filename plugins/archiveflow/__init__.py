"""archiveflow: archive and restore data safely and cheaply with Airflow on Amazon MWAA."""

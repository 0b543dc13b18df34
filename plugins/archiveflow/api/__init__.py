"""FastAPI apps served by the Airflow API server (registered by plugins/archiveflow_plugin.py)."""

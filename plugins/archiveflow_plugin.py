"""The archiveflow Airflow plugin: the `/sensors` API on the Airflow API server.

Lives at the top of the plugins folder (its own module, imported once by the plugin manager);
the app itself is in `archiveflow.api.sensors`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class ArchiveflowPlugin(AirflowPlugin):
    name = "archiveflow"

    @property
    def fastapi_apps(self) -> list[dict]:
        # Built on first use: only the API server asks, and the scheduler, workers and triggerer
        # load plugins too, without needing FastAPI.
        from archiveflow.api.sensors import create_app

        return [{"app": create_app(), "url_prefix": "/sensors", "name": "archiveflow sensors"}]

"""The archiveflow Airflow plugin: the `/sensors` API and the `/archive` page (in the UI's nav as
"Archive") on the Airflow API server.

Lives at the top of the plugins folder (its own module, imported once by the plugin manager);
the apps themselves are in `archiveflow.api.sensors` and `archiveflow.api.archive`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class ArchiveflowPlugin(AirflowPlugin):
    name = "archiveflow"
    # The UI frames `href` (relative to its base URL, so it works under MWAA's path too) at /plugin/archive.
    external_views = [{"name": "Archive", "href": "archive/", "url_route": "archive", "destination": "nav",
                       "nav_top_level": True}]

    @property
    def fastapi_apps(self) -> list[dict]:
        # Built on first use: only the API server asks, and the scheduler, workers and triggerer
        # load plugins too, without needing FastAPI.
        from archiveflow.api.archive import create_app as archive_app
        from archiveflow.api.sensors import create_app as sensors_app

        return [{"app": sensors_app(), "url_prefix": "/sensors", "name": "archiveflow sensors"},
                {"app": archive_app(), "url_prefix": "/archive", "name": "archiveflow archive"}]

"""The plugin mounts /sensors, and loading it (which every Airflow component does) stays cheap."""

import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"


def test_loading_the_plugin_imports_neither_fastapi_nor_the_api_security():
    probe = f"""
import sys
sys.path.insert(0, {str(PLUGINS)!r})
import importlib.util
for path in [{str(PLUGINS / "archiveflow_plugin.py")!r}, {str(PLUGINS / "archiveflow/api/sensors.py")!r}]:
    spec = importlib.util.spec_from_file_location(path.rsplit("/", 1)[-1][:-3], path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # what the plugin manager does
print(sorted(m for m in sys.modules if m == "fastapi" or m.startswith("airflow.api_fastapi")))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_api_server_gets_the_sensors_app_at_its_prefix():
    from archiveflow_plugin import ArchiveflowPlugin

    app = next(a for a in ArchiveflowPlugin().fastapi_apps if a["url_prefix"] == "/sensors")
    routes = {route.path: route for route in app["app"].routes}
    assert "/{sensor_id}/average-temperature" in routes
    assert routes["/{sensor_id}/average-temperature"].dependencies  # the auth manager's check

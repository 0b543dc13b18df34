"""The one resolver of the deployment's include/ folder (SQL files, default config files).

include/ is looked for in this order:
1. `$ARCHIVEFLOW_INCLUDE_DIR`, when set (another deployment layout, tests);
2. the repository root, beside `plugins/` (a checkout, the local stack);
3. inside the DAGs folder (`$AIRFLOW__CORE__DAGS_FOLDER`, else `$AIRFLOW_HOME/dags`): MWAA syncs
   only the dags prefix and plugins.zip, so the deploy puts include/ there.
"""

from __future__ import annotations

import os
from pathlib import Path


def include_folders() -> list[Path]:
    if "ARCHIVEFLOW_INCLUDE_DIR" in os.environ:
        return [Path(os.environ["ARCHIVEFLOW_INCLUDE_DIR"])]
    dags_folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or os.path.join(
        os.environ.get("AIRFLOW_HOME", "/usr/local/airflow"), "dags")
    return [Path(__file__).resolve().parents[2] / "include", Path(dags_folder) / "include"]


def include_path(*parts: str) -> Path:
    """The first existing `include/<parts>`; FileNotFoundError naming every place looked in."""
    for folder in include_folders():
        if (candidate := folder.joinpath(*parts)).exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join(parts)} not found under {[str(f) for f in include_folders()]}")


def sql_folder() -> str:
    """For a DAG's `template_searchpath`: templated operators then name files as `<family>/<name>.sql`."""
    return str(include_path("sql"))

"""Where the deployment's include/ folder is (SQL files, monthly source lists).

$ARCHIVEFLOW_INCLUDE_DIR if set; else next to plugins/ (this repository, and an AIRFLOW_HOME
holding dags/, plugins/ and include/ side by side); else inside the dags folder
($AIRFLOW_HOME/dags/include: MWAA ships whatever sits in the dags prefix, and nothing beside it).
"""

from __future__ import annotations

import os
from pathlib import Path


def include_folders() -> list[Path]:
    if "ARCHIVEFLOW_INCLUDE_DIR" in os.environ:
        return [Path(os.environ["ARCHIVEFLOW_INCLUDE_DIR"])]
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", "/usr/local/airflow"))
    return [Path(__file__).resolve().parents[2] / "include", airflow_home / "dags" / "include"]


def include_path(*parts: str) -> Path:
    """The first existing `include/<parts>`; FileNotFoundError naming every place looked in."""
    for folder in include_folders():
        if (candidate := folder.joinpath(*parts)).exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join(parts)} not found under {[str(f) for f in include_folders()]}")

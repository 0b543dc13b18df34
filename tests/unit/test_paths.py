"""include/ is found in the repository, in an overriding folder, or reported missing by name."""

import pytest

from archiveflow.paths import include_path


def test_finds_files_of_the_repository_include_folder():
    assert include_path("sql", "rdbms_archival").is_dir()
    assert include_path("deep_archive", "monthly_sources.yaml").is_file()


def test_override_folder_wins_and_misses_name_every_place(tmp_path, monkeypatch):
    (tmp_path / "sql").mkdir()
    monkeypatch.setenv("ARCHIVEFLOW_INCLUDE_DIR", str(tmp_path))
    assert include_path("sql") == tmp_path / "sql"
    with pytest.raises(FileNotFoundError, match=rf"deep_archive/monthly_sources.yaml not found under \['{tmp_path}'\]"):
        include_path("deep_archive", "monthly_sources.yaml")

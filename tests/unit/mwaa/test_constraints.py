"""One set of pins (mwaa/constraints.txt) that MWAA 3.3.1 accepts and the local .venv installs."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

from deploy.constraints import (
    CONSTRAINTS,
    MWAA_ESSENTIAL,
    REPO,
    REQUIREMENTS,
    REQUIREMENTS_DEV,
    canonical,
    pins_differing_from_mwaa,
    read_pins,
    requirement_lines,
)


def test_our_pins_equal_mwaa_essential_pins():
    assert pins_differing_from_mwaa(read_pins(CONSTRAINTS), read_pins(MWAA_ESSENTIAL)) == {}


def test_a_differing_pin_is_reported(tmp_path):
    """What the constraints of Python 3.11 had before: MWAA's pip refuses SQLAlchemy 2.1."""
    ours = tmp_path / "constraints.txt"
    ours.write_text(CONSTRAINTS.read_text().replace("sqlalchemy==2.0.51", "sqlalchemy==2.1.9"))
    assert pins_differing_from_mwaa(read_pins(ours), read_pins(MWAA_ESSENTIAL)) == {
        "sqlalchemy": ("2.1.9", "2.0.51")}


def test_mwaa_list_names_its_source_and_date():
    header = MWAA_ESSENTIAL.read_text().split("apache-airflow==")[0]
    assert "github.com/aws/amazon-mwaa-docker-images/blob/" in header and "images/airflow/3.3.1/" in header
    assert re.search(r"read \d{4}-\d{2}-\d{2}", header)
    assert read_pins(MWAA_ESSENTIAL)["apache-airflow"] == "3.3.1"


def test_one_version_per_package_for_every_python(tmp_path):
    assert "sqlalchemy" in read_pins(CONSTRAINTS)  # read_pins raises on a package pinned twice
    forked = tmp_path / "forked.txt"
    forked.write_text("numpy==2.4.6 ; python_full_version < '3.12'\nnumpy==2.5.5 ; python_full_version >= '3.12'\n")
    with pytest.raises(ValueError, match="numpy pinned twice"):
        read_pins(forked)


@pytest.mark.parametrize("requirements", [REQUIREMENTS, REQUIREMENTS_DEV], ids=lambda p: p.name)
def test_every_requirement_is_pinned_to_the_constraints_version(requirements):
    pins = read_pins(CONSTRAINTS)
    problems = []
    for line in requirement_lines(requirements):
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]+\])?==(\S+)", line)
        if match is None:
            problems.append(f"{line}: not pinned exactly")
        elif pins.get(canonical(match.group(1))) != match.group(3):
            problems.append(f"{line}: constraints say {pins.get(canonical(match.group(1)))}")
    assert problems == []


def test_the_local_venv_has_the_versions_mwaa_installs():
    pins = read_pins(CONSTRAINTS)
    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    differing = {name: (version, pins[name]) for name, version in installed.items()
                 if name in pins and version != pins[name]}
    assert differing == {}, "run `make install` (installed, pinned)"


def _dev_only_modules() -> set[str]:
    dev = {canonical(re.split(r"[\[=]", line)[0]) for line in requirement_lines(REQUIREMENTS_DEV)}
    return {module for module, dists in importlib.metadata.packages_distributions().items()
            if any(canonical(d) in dev for d in dists)}


def test_nothing_mwaa_runs_imports_a_dev_only_package():
    """MWAA installs requirements.txt only: a DAG or plugin importing moto/pytest/... fails there."""
    dev_modules = _dev_only_modules()
    assert {"moto", "pytest"} <= dev_modules
    offenders = []
    for path in sorted([*(REPO / "plugins").rglob("*.py"), *(REPO / "dags").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            offenders += [f"{Path(path).relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in dev_modules]
    assert offenders == []

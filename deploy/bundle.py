"""`make mwaa-bundle`: what an MWAA environment's bucket holds, built into dist/mwaa/.

    dist/mwaa/dags/            the dags prefix: DAG files, include/, constraints.txt, .airflowignore
    dist/mwaa/plugins.zip      plugins/ (MWAA unpacks it into /usr/local/airflow/plugins)
    dist/mwaa/requirements.txt requirements.txt in MWAA's form (constraints named by absolute path)
    dist/mwaa/startup.sh       mwaa/startup.sh

`--with-wheels` (private networking: a web server in private subnets has no PyPI) also puts
every wheel requirements.txt needs, for CPython 3.12 on manylinux x86_64, into plugins.zip under
wheels/, and requirements.txt then installs from there only (`--no-index --find-links`).
The zip is deterministic (sorted, fixed timestamps): an unchanged plugins/ gives the same object.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deploy.constraints import CONSTRAINTS, REPO, REQUIREMENTS, requirement_lines

MWAA_AIRFLOW_HOME = "/usr/local/airflow"
MWAA_DAGS_FOLDER = f"{MWAA_AIRFLOW_HOME}/dags"
MWAA_PLUGINS_FOLDER = f"{MWAA_AIRFLOW_HOME}/plugins"
CONSTRAINTS_NAME = "constraints.txt"
DEFAULT_OUT = REPO / "dist" / "mwaa"
STARTUP_SCRIPT = REPO / "mwaa" / "startup.sh"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# The dag processor need not walk the SQL and config files.
AIRFLOWIGNORE = "include/\n"
# MWAA's image is Amazon Linux 2023 (glibc 2.34). pip does not widen a manylinux tag to older
# ones by itself: every tag the image accepts is named.
WHEEL_PLATFORM = (*(arg for glibc in range(34, 16, -1) for arg in ("--platform", f"manylinux_2_{glibc}_x86_64")),
                  "--platform", "manylinux2014_x86_64", "--platform", "manylinux2010_x86_64",
                  "--platform", "manylinux1_x86_64", "--python-version", "3.12", "--implementation", "cp")


@dataclass(frozen=True)
class Bundle:
    root: Path

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    @property
    def plugins_zip(self) -> Path:
        return self.root / "plugins.zip"

    @property
    def requirements(self) -> Path:
        return self.root / "requirements.txt"

    @property
    def startup_script(self) -> Path:
        return self.root / "startup.sh"

    def files(self) -> list[tuple[str, int]]:
        """(path relative to the bundle, size in bytes) of every file, sorted."""
        return sorted((str(p.relative_to(self.root)), p.stat().st_size) for p in self.root.rglob("*") if p.is_file())


def _source_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def mwaa_requirements(with_wheels: bool) -> str:
    lines = ["# archiveflow's requirements, as MWAA installs them (built by `make mwaa-bundle`)."]
    if with_wheels:
        lines += ["--no-index", f"--find-links {MWAA_PLUGINS_FOLDER}/wheels"]
    lines.append(f'--constraint "{MWAA_DAGS_FOLDER}/{CONSTRAINTS_NAME}"')
    return "\n".join(lines + requirement_lines(REQUIREMENTS)) + "\n"


def download_wheels(folder: Path) -> None:
    """Every wheel MWAA's pip needs for requirements.txt, for MWAA's platform (pip's resolver)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *WHEEL_PLATFORM,
                    "--dest", str(folder), "-r", str(REQUIREMENTS), "-c", str(CONSTRAINTS)], check=True)


def _write_zip(path: Path, members: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(members):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = 0o644 << 16
            # Wheels are zips already: storing them costs nothing and saves the deflate time.
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".whl") else zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())


def build(out: Path = DEFAULT_OUT, with_wheels: bool = False) -> Bundle:
    bundle = Bundle(out)
    if out.exists():
        shutil.rmtree(out)
    bundle.dags.mkdir(parents=True)
    for source in _source_files(REPO / "dags"):
        target = bundle.dags / source.relative_to(REPO / "dags")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copytree(REPO / "include", bundle.dags / "include", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(CONSTRAINTS, bundle.dags / CONSTRAINTS_NAME)
    (bundle.dags / ".airflowignore").write_text(AIRFLOWIGNORE)

    plugins = REPO / "plugins"
    members = [(str(p.relative_to(plugins)), p) for p in _source_files(plugins)]
    with tempfile.TemporaryDirectory(prefix="archiveflow-wheels-") as wheels:
        if with_wheels:
            download_wheels(Path(wheels))
            members += [(f"wheels/{p.name}", p) for p in sorted(Path(wheels).glob("*.whl"))]
        _write_zip(bundle.plugins_zip, members)
    bundle.requirements.write_text(mwaa_requirements(with_wheels))
    shutil.copyfile(STARTUP_SCRIPT, bundle.startup_script)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the MWAA bundle (dags prefix, plugins.zip, "
                                                 "requirements.txt, startup.sh).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--with-wheels", action="store_true",
                        help="carry every wheel in plugins.zip (an environment without PyPI access)")
    args = parser.parse_args()
    bundle = build(args.out, args.with_wheels)
    files = bundle.files()
    for name, size in files:
        print(f"{size:>12,}  {name}")
    print(f"{sum(size for _, size in files):>12,}  bytes in {len(files)} files under {bundle.root}")


if __name__ == "__main__":
    main()

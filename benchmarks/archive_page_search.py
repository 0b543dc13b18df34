"""Benchmark: the archive page's prefix search over HTTP among 1,000,000 archive catalog rows, through
the real Airflow API server (the plugin app behind Airflow's auth) on a stack of its own: moto,
PostgreSQL databases and an `airflow api-server`, all stopped (by pid) and dropped at the end.

    .venv/bin/python benchmarks/archive_page_search.py [--rows 1000000] [--bundle-rows 50000] [--repeat 5]

The table is filled as `archive_catalog_lookup.py` fills it (one pyiceberg commit per bundle, keys in
bundle order over 10 top-level prefixes). Then, with a JWT from `POST /auth/token`, it times
`GET /archive/api/files?prefix=…` (the page's search: 50 files a page) for a long prefix (one
partition), a short one (a partition range) and none, the first request and the median of the
next ones, next to the same SQL run in this process on a warm connection (the baseline: what HTTP,
auth and the app add is the difference). Prints the load average with every figure.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for folder in (REPO, REPO / "plugins", REPO / "benchmarks"):
    sys.path.insert(0, str(folder))

from archive_catalog_lookup import fill, key_of, load  # noqa: E402
from devstack import postgres, stack  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api_server(config: stack.StackConfig) -> None:
    """The Airflow API server alone (the page needs no scheduler to search)."""
    env = stack.full_env(config, stack.base_env())
    config.airflow_home.mkdir(parents=True, exist_ok=True)
    (config.airflow_home / "simple_auth_manager_passwords.json.generated").write_text('{"admin": "admin"}')
    stack.migrate_airflow_db(config)
    config.process("api-server").start([str(stack.VENV_BIN / "airflow"), "api-server", "--host", "127.0.0.1",
                                        "--port", str(config.api_port)], env=env, cwd=REPO)
    from devstack.processes import wait_for_http

    wait_for_http(f"{config.api_url}/api/v2/monitor/health", 300, "Airflow api-server", config.process("api-server"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bundle-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = stack.StackConfig(REPO / ".stack" / "bench-archive-page", free_port(), free_port(),
                               "archiveflow_bench_page", "archiveflow_airflow_bench_page")
    try:
        stack.start_postgres(config)
        stack.start_aws(config)
        os.environ.update({k: v for k, v in stack.full_env(config).items() if k != "PATH"})
        import requests

        from archiveflow.archive_page import search
        from archiveflow.hooks.archive_catalog import ArchiveCatalogHook, catalog_identifier

        hook = ArchiveCatalogHook()
        table = hook.ensure_table()
        print(f"filling {catalog_identifier()} with {args.rows:,} rows, {args.bundle_rows:,} a bundle ({load()})")
        started = time.monotonic()
        fill(table, args.rows, args.bundle_rows)
        print(f"filled in {time.monotonic() - started:,.0f} s ({load()})")
        start_api_server(config)
        token = requests.post(f"{config.api_url}/auth/token", json={"username": "admin", "password": "admin"},
                              timeout=60).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        middle = key_of(args.rows * 37 // 100, args.rows)
        prefixes = {"long prefix (one partition)": middle.rsplit("/", 2)[0] + "/",
                    "short prefix (a partition range)": middle[:3], "no prefix (every file)": ""}
        for what, prefix in prefixes.items():
            url = f"{config.api_url}/archive/api/files"
            times = []
            for _ in range(args.repeat + 1):
                began = time.monotonic()
                response = session.get(url, params={"prefix": prefix}, timeout=120)
                times.append(time.monotonic() - began)
                response.raise_for_status()
            files = response.json()["files"]
            asked = search.parse_search({"prefix": prefix})
            in_process = []
            for _ in range(args.repeat):
                began = time.monotonic()
                hook.select(search.SQL, asked.parameters())
                in_process.append(time.monotonic() - began)
            warm, baseline = statistics.median(times[1:]), statistics.median(in_process)
            print(f"{what} {prefix!r}: {len(files)} files a page; over HTTP first {times[0]:.2f} s, "
                  f"median {warm:.2f} s (max {max(times[1:]):.2f} s); the same SQL in-process median "
                  f"{baseline:.2f} s; HTTP/in-process {warm / max(baseline, 1e-9):.2f}x ({load()})")
        hook.close()
    finally:
        for name in ("api-server", "moto"):
            config.process(name).stop()
        for database in (config.airflow_database, config.source_database):
            postgres.drop_database(database)
    return 0


if __name__ == "__main__":
    sys.exit(main())

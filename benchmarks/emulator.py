"""The benchmarks' own AWS emulator: the local stack's moto server on a spare loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devstack.processes import wait_for_http  # noqa: E402


def start_moto() -> tuple[subprocess.Popen, str]:
    """(the process, its endpoint URL) once it answers; terminate the process when done."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "devstack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", 30, "the benchmark's moto")
    except BaseException:
        process.terminate()
        raise
    return process, endpoint

"""Steady progress lines for long work: counts, bytes, rate and ETA, at most every ``every`` seconds."""

from __future__ import annotations

import logging
import time

from archiveflow.units import MiB


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    def __init__(self, log: logging.Logger, what: str, total_files: int | None = None,
                 total_bytes: int | None = None, every: float = 10.0):
        self._log, self._what, self._every = log, what, every
        self._total_files, self._total_bytes = total_files, total_bytes
        self.files = self.bytes = 0
        self._start = self._last = time.monotonic()

    def add(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes
        if time.monotonic() - self._last >= self._every:
            self.report()

    def report(self) -> None:
        self._last = time.monotonic()
        elapsed = max(self._last - self._start, 1e-6)
        files = f"{self.files:,}" + (f"/{self._total_files:,}" if self._total_files else "")
        size = f"{self.bytes / MiB:,.1f}" + (f"/{self._total_bytes / MiB:,.1f}" if self._total_bytes else "")
        line = (f"{self._what}: {files} files, {size} MiB in {_duration(elapsed)} "
                f"({self.files / elapsed:,.0f} files/s, {self.bytes / MiB / elapsed:,.1f} MiB/s)")
        if self._total_bytes and self.bytes:
            line += f", ETA {_duration(elapsed * (self._total_bytes - self.bytes) / self.bytes)}"
        self._log.info(line)

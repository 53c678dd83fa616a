"""Progress of a long batch on stderr: tqdm's bar on a terminal; in a log (CI, a cluster job,
`nohup`, a pipe) one plain line every 10% or every 10 seconds, whichever comes first, because a
bar's carriage returns turn a log file into one enormous line."""

from __future__ import annotations

import sys
import time
from typing import TextIO

LOG_EVERY_FRACTION = 0.10
LOG_EVERY_SECONDS = 10.0


class LogProgress:
    """tqdm's update/close interface, writing whole lines."""

    def __init__(self, total: int, desc: str, file: TextIO, unit: str = "nb",
                 every_fraction: float = LOG_EVERY_FRACTION, every_seconds: float = LOG_EVERY_SECONDS,
                 clock=time.monotonic):
        self.total, self.desc, self.file, self.unit = total, desc, file, unit
        self.every_fraction, self.every_seconds, self.clock = every_fraction, every_seconds, clock
        self.n = 0
        self.started = self.last_time = clock()
        self.last_n = 0
        self.closed = False

    def update(self, k: int = 1) -> None:
        self.n += k
        now = self.clock()
        tenth = self._tenths(self.n) > self._tenths(self.last_n)   # crossed 10%, 20%, ...
        if self.n >= self.total or tenth or now - self.last_time >= self.every_seconds:
            self._line(now)

    def _tenths(self, n: int) -> int:
        return int(n / (self.total * self.every_fraction)) if self.total else 0

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.n) / rate if rate > 0 else None
        percent = 100.0 * self.n / self.total if self.total else 100.0
        eta = f", about {left:.0f} s left" if left is not None and self.n < self.total else ""
        print(f"{self.desc}: {self.n}/{self.total} ({percent:.0f}%) in {elapsed:.0f} s, "
              f"{rate:.1f} {self.unit}/s{eta}", file=self.file, flush=True)
        self.last_n, self.last_time = self.n, now

    def close(self) -> None:
        if not self.closed and self.n != self.last_n:
            self._line(self.clock())
        self.closed = True


def progress(total: int, desc: str, file: TextIO | None = None, unit: str = "nb"):
    """A progress reporter for `total` items: a tqdm bar on a terminal, LogProgress otherwise."""
    file = file if file is not None else sys.stderr
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, desc=desc, file=file, dynamic_ncols=True, smoothing=0.1)
    return LogProgress(total, desc, file, unit)

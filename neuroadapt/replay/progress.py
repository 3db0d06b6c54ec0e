"""A one-line progress bar on stderr, redrawn a few times a second at most."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``label [#######.....]  42 %  12.3 s`` on one line, rewritten in place.

    Parameters
    ----------
    label : str
        Shown before the bar.
    stream : text stream, optional
        Where to draw (default stderr).
    enabled : bool, optional
        Draw at all; default: only when ``stream`` is a terminal.
    interval : float
        Least seconds between two redraws.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.2,
        width: int = 30,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.interval, self.width = label, interval, width
        self._begin = time.perf_counter()
        self._last = -float("inf")
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self._last < self.interval and done < total):
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {100 * frac:3.0f} % {now - self._begin:6.1f} s")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line (if anything was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


__all__ = ["ProgressBar"]

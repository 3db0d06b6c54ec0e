"""Pushing samples on time: the pacing loop shared by ``simulate`` and ``play``.

Sample ``k`` is due at ``t0 + k / rate`` of the clock, ``t0`` being the clock
when pacing starts, and is stamped with that due time. Chunks of about
``chunk`` samples are pushed with one timestamp per sample, so a stream is
exactly regular on the LSL clock and never drifts, however late the pushing
thread wakes up.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Self

import numpy as np

__all__ = ["MAX_CATCH_UP_SECONDS", "PushChunk", "StreamingThread", "run_paced", "stop_on_signals"]

# After a pause of the pushing thread (suspended laptop, debugger) the backlog is
# sent in pieces of at most this long, so no single chunk is huge.
MAX_CATCH_UP_SECONDS = 1.0

#: ``push(start, n, stamps)``: push samples ``start .. start + n - 1`` stamped ``stamps``.
PushChunk = Callable[[int, int, np.ndarray], None]


def run_paced(
    push: PushChunk,
    rate: float,
    *,
    chunk: int,
    stop: threading.Event,
    clock: Callable[[], float],
    n_total: int | None = None,
    linger: float = 0.0,
    max_catch_up: float = MAX_CATCH_UP_SECONDS,
) -> int:
    """Call ``push`` with every sample on time until ``n_total`` or ``stop``.

    Parameters
    ----------
    push : callable
        ``push(start, n, stamps)`` with ``stamps`` of shape (n,), float64: the due
        times ``t0 + (start + arange(n)) / rate``.
    rate : float
        Samples per second of the clock.
    chunk : int
        Samples per push in the steady state (the thread wakes when the last
        sample of the next chunk is due).
    stop : threading.Event
        Set it to return after the chunk in progress.
    clock : callable
        Seconds, monotonic (``pylsl.local_clock``).
    n_total : int, optional
        Samples to push before returning; None pushes until ``stop``.
    linger : float
        Seconds to wait after the last sample of ``n_total`` (consumers receive
        the final chunks before the caller closes the outlet); ``stop`` cuts it.
    max_catch_up : float
        Longest backlog, in seconds of samples, pushed at once.

    Returns
    -------
    int
        Samples pushed.
    """
    chunk = max(1, int(chunk))
    max_chunk = max(chunk, round(max_catch_up * rate))
    t0 = clock()
    sent = 0  # sample k is due at t0 + k / rate
    while not stop.is_set():
        # Samples 0 .. floor((now - t0) * rate) are due by now.
        due = math.floor((clock() - t0) * rate) + 1
        if n_total is not None:
            due = min(due, n_total)
        n = min(due - sent, max_chunk)
        if n > 0:
            push(sent, n, t0 + np.arange(sent, sent + n) / rate)
            sent += n
            if n == max_chunk:
                continue  # still catching up: push the rest without waiting
        if n_total is not None and sent >= n_total:
            # Destroying an outlet right after the last push can drop the chunk
            # still in flight to consumers; the caller keeps it open this long.
            stop.wait(linger)
            break
        # Wake when the last sample of the next chunk is due.
        wake = t0 + (sent + chunk - 1) / rate
        stop.wait(max(0.0, wake - clock()))
    return sent


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGINT and SIGTERM while inside, then restore the old handlers.

    Handlers can only be installed from the main thread; elsewhere (a test
    driving a command from a worker) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class StreamingThread(ABC):
    """Run a stream in the foreground (:meth:`run`) or a daemon thread (:meth:`start`).

    Subclasses open their outlets in :meth:`open`, stream until told to stop in
    :meth:`_serve` (watching ``self._stop``) and release them in :meth:`close`.
    """

    name: str
    _what = "stream"  # for messages and the thread's name

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def open(self) -> None:
        """Create the outlets (visible to resolvers when this returns)."""

    @abstractmethod
    def close(self) -> None:
        """Release the outlets; safe to call twice."""

    @abstractmethod
    def _serve(self) -> None:
        """Stream until the end or until ``self._stop`` is set, then close."""

    def run(self) -> None:
        """Stream in this thread until the end or :meth:`stop`, then close. Blocks."""
        self._stop.clear()
        self._serve()

    def start(self) -> Self:
        """Open the outlets, then stream in a daemon thread; returns self."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"this {self._what} is already running")
        self._stop.clear()
        self.open()
        self._thread = threading.Thread(
            target=self._serve, name=f"{self._what}-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the stream to end after the chunk in progress (thread- and signal-safe)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread of :meth:`start`; True if it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.join(timeout=5.0)
        self.close()

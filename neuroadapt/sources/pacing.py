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
from collections.abc import Callable, Iterator
from types import FrameType

import numpy as np

__all__ = ["MAX_CATCH_UP_SECONDS", "PushChunk", "run_paced", "stop_on_signals"]

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

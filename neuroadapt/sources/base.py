"""The one interface every EEG source implements.

The live loop and offline replay differ only in their source: an LSL inlet, a
file reader or the synthetic headset. Each hands over the samples that arrived
since the previous call, samples first, as LSL delivers them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from types import TracebackType

import numpy as np

__all__ = ["Source", "pull_wait"]


class Source(ABC):
    """A stream of multichannel EEG samples with timestamps.

    Attributes
    ----------
    ch_names : list of str
        One label per channel, in column order.
    sfreq : float
        Nominal sampling rate in Hz.
    """

    ch_names: list[str]
    sfreq: float

    @property
    def n_channels(self) -> int:
        """Number of channels (columns of the arrays :meth:`pull` returns)."""
        return len(self.ch_names)

    @abstractmethod
    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every sample that arrived since the previous call.

        Never blocks for long; returns empty arrays when nothing is new.

        Returns
        -------
        data : array of shape (n_samples, n_channels), float64
            The new samples, oldest first, in the source's units (µV for EEG).
            ``n_samples`` may be 0. The caller owns the array.
        timestamps : array of shape (n_samples,), float64
            One timestamp per sample, in seconds of the LSL clock
            (``pylsl.local_clock``) of this machine.
        """

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release what the source holds (sockets, files). Safe to call twice."""

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pull_wait(
    source: Source, n: int, timeout: float, *, poll_interval: float = 0.005
) -> tuple[np.ndarray, np.ndarray]:
    """Pull from ``source`` until at least ``n`` samples came in or ``timeout`` passed.

    Parameters
    ----------
    source : Source
        Any source.
    n : int
        Number of samples wanted, ``n >= 0``.
    timeout : float
        Longest time to wait, in seconds.
    poll_interval : float
        Pause between two pulls that returned nothing new, in seconds.

    Returns
    -------
    data : array of shape (n_pulled, n_channels), float64
        Everything pulled, oldest first: at least ``n`` samples unless the
        timeout passed first (check ``len(data)``), possibly more than ``n``.
    timestamps : array of shape (n_pulled,), float64
        Their timestamps.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    deadline = time.monotonic() + timeout
    datas: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    got = 0
    while True:
        data, ts = source.pull()
        if len(ts):
            datas.append(data)
            stamps.append(ts)
            got += len(ts)
        if got >= n or time.monotonic() >= deadline:
            break
        if not len(ts):
            time.sleep(poll_interval)
    if not datas:
        return np.empty((0, source.n_channels)), np.empty(0)
    return np.concatenate(datas, axis=0), np.concatenate(stamps)

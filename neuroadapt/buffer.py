"""Preallocated ring buffer for multichannel samples and their timestamps.

The live loop pulls chunks of EEG from a source and keeps the last few seconds
here; feature windows are then read back with :meth:`RingBuffer.latest`, and an
incremental consumer (the causal filter, the recorder) reads exactly the
samples it has not seen yet with :meth:`RingBuffer.since`.

Samples are addressed by their *absolute index*: the position of a sample in
the count of every sample ever written (``0`` for the first sample after
construction or :meth:`RingBuffer.clear`). Absolute indices never wrap, so a
reader can keep one integer and always knows whether it missed something.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import DTypeLike

from neuroadapt.errors import NeuroadaptError

__all__ = ["BufferOverrunError", "RingBuffer"]


class BufferOverrunError(NeuroadaptError):
    """Samples a reader asked for were already overwritten.

    The reader fell more than ``capacity`` samples behind the writer.

    Parameters
    ----------
    requested : int
        The absolute index the reader asked for.
    oldest : int
        The absolute index of the oldest sample still held.

    Attributes
    ----------
    requested : int
        The absolute index the reader asked for.
    oldest : int
        The absolute index of the oldest sample still held; a reader may
        resume from here, having lost ``oldest - requested`` samples.
    """

    def __init__(self, requested: int, oldest: int) -> None:
        self.requested = requested
        self.oldest = oldest
        super().__init__(
            f"ring buffer overrun: samples from index {requested} were requested but the "
            f"oldest sample held is {oldest}; {oldest - requested} samples were overwritten "
            "(the reader fell behind by more than the buffer capacity)"
        )


class RingBuffer:
    """Preallocated ring buffer with a write index.

    It never ``np.roll``s or copies the whole buffer per chunk.

    Data and timestamps live in two parallel preallocated rings. A write costs
    at most two slice assignments per ring (the second only when the chunk
    wraps past the end), whatever the capacity; reads copy only the samples
    asked for.

    Parameters
    ----------
    capacity : int
        Number of samples held, at least 1. Choose it larger than the longest
        feature window plus the longest expected pause of the reader.
    n_channels : int
        Number of channels, at least 1.
    dtype : data-type
        Data type of the stored samples (default float64). Timestamps are
        always float64.

    Notes
    -----
    All methods take an internal lock, so one acquisition thread may write
    while another thread reads. The lock is held only for the slice copies.
    """

    def __init__(self, capacity: int, n_channels: int, dtype: DTypeLike = np.float64) -> None:
        _check_positive_int(capacity, "capacity")
        _check_positive_int(n_channels, "n_channels")
        self._capacity = int(capacity)
        self._n_channels = int(n_channels)
        self._data = np.zeros((self._capacity, self._n_channels), dtype=dtype)
        self._times = np.zeros(self._capacity, dtype=np.float64)
        self._n_written = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state
    @property
    def capacity(self) -> int:
        """Number of samples the buffer can hold."""
        return self._capacity

    @property
    def n_channels(self) -> int:
        """Number of channels of every sample."""
        return self._n_channels

    @property
    def dtype(self) -> np.dtype:
        """Data type of the stored samples."""
        return self._data.dtype

    @property
    def n_written(self) -> int:
        """Total number of samples ever written since construction or :meth:`clear`."""
        return self._n_written

    @property
    def available(self) -> int:
        """Number of samples currently held, ``min(n_written, capacity)``."""
        return min(self._n_written, self._capacity)

    @property
    def oldest_index(self) -> int:
        """Absolute index of the oldest sample still held (``n_written`` when empty)."""
        return self._n_written - self.available

    def __len__(self) -> int:
        return self.available

    def __repr__(self) -> str:
        return (
            f"RingBuffer(capacity={self._capacity}, n_channels={self._n_channels}, "
            f"dtype={self._data.dtype}, n_written={self._n_written})"
        )

    # ----------------------------------------------------------------- writes
    def write(self, data: np.ndarray, timestamps: np.ndarray) -> None:
        """Append a chunk of samples.

        Parameters
        ----------
        data : array of shape (n_samples, n_channels)
            The new samples, oldest first. ``n_samples`` may be 0.
        timestamps : array of shape (n_samples,)
            One timestamp per sample (seconds, LSL clock).

        Raises
        ------
        ValueError
            If ``data`` or ``timestamps`` do not have the shapes above.

        Notes
        -----
        A chunk longer than ``capacity`` keeps only its last ``capacity``
        samples, but ``n_written`` still counts all of them, so readers that
        wanted the dropped ones get :class:`BufferOverrunError`.
        """
        data = np.asarray(data)
        timestamps = np.asarray(timestamps)
        if data.ndim != 2 or data.shape[1] != self._n_channels:
            raise ValueError(
                f"data must have shape (n_samples, {self._n_channels}), got shape {data.shape}"
            )
        n = data.shape[0]
        if timestamps.shape != (n,):
            raise ValueError(
                f"timestamps must have shape ({n},) to match data of shape {data.shape}, "
                f"got shape {timestamps.shape}"
            )
        if n == 0:
            return
        with self._lock:
            first = self._n_written
            if n > self._capacity:
                # Only the tail can survive; writing the rest would be overwritten anyway.
                skip = n - self._capacity
                data = data[skip:]
                timestamps = timestamps[skip:]
                first += skip
            m = data.shape[0]
            start = first % self._capacity
            head = min(m, self._capacity - start)
            self._data[start : start + head] = data[:head]
            self._times[start : start + head] = timestamps[:head]
            if head < m:
                self._data[: m - head] = data[head:]
                self._times[: m - head] = timestamps[head:]
            self._n_written += n

    def clear(self) -> None:
        """Forget every sample and restart absolute indices at 0.

        The storage is kept (not reallocated or zeroed). Readers holding an
        index from before the clear get a ``ValueError`` from :meth:`since`
        until they restart from 0.
        """
        with self._lock:
            self._n_written = 0

    # ------------------------------------------------------------------ reads
    def latest(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy the newest ``n`` samples, in time order.

        Parameters
        ----------
        n : int
            Number of samples, ``0 <= n <= available``.

        Returns
        -------
        data : array of shape (n, n_channels)
            A copy of the samples, oldest first.
        timestamps : array of shape (n,)
            Their timestamps, float64.

        Raises
        ------
        ValueError
            If ``n`` is negative or more than :attr:`available`.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        with self._lock:
            available = min(self._n_written, self._capacity)
            if not 0 <= n <= available:
                raise ValueError(
                    f"cannot read {n} samples: the buffer holds {available} "
                    f"(capacity {self._capacity}, {self._n_written} written)"
                )
            return self._read(self._n_written - int(n), int(n))

    def since(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy every sample with absolute index ``>= index``, in time order.

        A reader that keeps ``index = buffer.n_written`` after each call sees
        every sample exactly once, as long as it never falls more than
        ``capacity`` samples behind.

        Parameters
        ----------
        index : int
            Absolute index of the first sample wanted, ``0 <= index <= n_written``.
            ``index == n_written`` returns empty arrays.

        Returns
        -------
        data : array of shape (n_written - index, n_channels)
            A copy of the samples, oldest first.
        timestamps : array of shape (n_written - index,)
            Their timestamps, float64.

        Raises
        ------
        BufferOverrunError
            If some of the samples asked for were already overwritten. Its
            ``oldest`` attribute says where the reader can resume.
        ValueError
            If ``index`` is negative or beyond ``n_written``.
        """
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        with self._lock:
            if not 0 <= index <= self._n_written:
                raise ValueError(
                    f"index must be between 0 and n_written={self._n_written}, got {index}"
                )
            oldest = self._n_written - min(self._n_written, self._capacity)
            if index < oldest:
                raise BufferOverrunError(index, oldest)
            return self._read(index, self._n_written - index)

    def _read(self, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy ``n`` samples starting at absolute index ``first`` (lock held, range checked)."""
        start = first % self._capacity
        stop = start + n
        if stop <= self._capacity:
            return self._data[start:stop].copy(), self._times[start:stop].copy()
        wrap = stop - self._capacity
        data = np.concatenate((self._data[start:], self._data[:wrap]), axis=0)
        times = np.concatenate((self._times[start:], self._times[:wrap]))
        return data, times


def _check_positive_int(value: object, name: str) -> None:
    """Raise unless ``value`` is an integer >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")

"""Causal IIR preprocessing: high-pass and mains notch, with carried state.

Live EEG arrives in chunks of arbitrary length. :class:`CausalFilter` keeps
the filter state between chunks, so filtering chunk by chunk gives exactly the
same samples as filtering the whole recording at once with
:func:`filter_offline`; offline replay therefore reproduces a live session.

Filters are second-order sections (SOS, as :func:`scipy.signal.sosfilt`
expects), which stay numerically stable at the low normalised frequencies of a
1 Hz high-pass at 500 Hz sampling, where a single transfer function would not.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from neuroadapt.dsp.checks import finite_chunk, positive

__all__ = ["CausalFilter", "design_preprocessing", "filter_offline"]

#: An SOS section that passes its input through unchanged.
_IDENTITY_SECTION = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


def design_preprocessing(
    sfreq: float,
    highpass: float | None = 1.0,
    notch: float | None = 50.0,
    *,
    order: int = 4,
    notch_q: float = 30.0,
) -> np.ndarray:
    """Design the causal preprocessing filter: high-pass, then mains notches.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    highpass : float | None
        Cut-off (-3 dB) of a Butterworth high-pass in Hz, or None for none.
        It removes the electrode offset and slow drifts.
    notch : float | None
        Mains frequency in Hz (50 in Europe, 60 in the Americas), or None
        for no notch. A notch is placed at ``k * notch`` for every integer
        ``k >= 1`` with ``k * notch`` strictly below the Nyquist frequency
        ``sfreq / 2``; a harmonic exactly at Nyquist is left out (a notch
        there is not defined). At 250 Hz this gives 50 and 100 Hz; at
        500 Hz, 50, 100, 150 and 200 Hz.
    order : int
        Order of the Butterworth high-pass (default 4).
    notch_q : float
        Quality factor of each notch: its -3 dB bandwidth is ``f / notch_q``
        (1.7 Hz at 50 Hz for the default 30).

    Returns
    -------
    sos : array of shape (n_sections, 6)
        Second-order sections, high-pass first. A single pass-through
        section when both ``highpass`` and ``notch`` are None.

    Raises
    ------
    ValueError
        If ``sfreq``, ``order`` or ``notch_q`` is not positive, or if
        ``highpass`` or ``notch`` is not strictly between 0 and Nyquist.
    """
    sfreq = positive(sfreq, "sfreq")
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    notch_q = positive(notch_q, "notch_q")
    nyquist = sfreq / 2.0
    sections: list[np.ndarray] = []
    if highpass is not None:
        highpass = _check_below_nyquist(highpass, "highpass", sfreq)
        sections.append(signal.butter(int(order), highpass, "highpass", fs=sfreq, output="sos"))
    if notch is not None:
        notch = _check_below_nyquist(notch, "notch", sfreq)
        k = 1
        # Compare the products themselves (not a ceil of a ratio) so rounding can never
        # admit a harmonic at Nyquist, where iirnotch is undefined.
        while k * notch < nyquist:
            b, a = signal.iirnotch(k * notch, notch_q, fs=sfreq)
            sections.append(signal.tf2sos(b, a))
            k += 1
    if not sections:
        return _IDENTITY_SECTION.copy()
    return np.vstack(sections).astype(np.float64, copy=False)


def filter_offline(sos: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Filter a whole recording at once, exactly as :class:`CausalFilter` would live.

    The state starts at the steady state for the first sample of each
    channel, as in :meth:`CausalFilter.process`, so the result equals the
    concatenation of any chunk-by-chunk filtering of the same data.

    Parameters
    ----------
    sos : array of shape (n_sections, 6)
        Second-order sections, e.g. from :func:`design_preprocessing`.
    data : array of shape (n_samples, n_channels)
        The recording, samples first. ``n_samples`` may be 0.

    Returns
    -------
    filtered : array of shape (n_samples, n_channels)
        The filtered recording, float64.

    Raises
    ------
    ValueError
        If ``sos`` or ``data`` has the wrong shape, or ``data`` holds NaN or Inf.
    """
    sos = _check_sos(sos)
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n_samples, n_channels), got shape {data.shape}")
    return CausalFilter(sos, data.shape[1]).process(data)


class CausalFilter:
    """SOS IIR filter with carried state.

    Filtering chunk by chunk gives exactly the whole-signal result of
    :func:`filter_offline`, whatever the chunk sizes.

    Parameters
    ----------
    sos : array of shape (n_sections, 6)
        Second-order sections, e.g. from :func:`design_preprocessing`.
    n_channels : int
        Number of channels filtered in parallel.

    Notes
    -----
    The state is initialised on the first samples after construction or
    :meth:`reset`, to the steady state the filter would reach if the first
    sample of each channel had been applied forever (``sosfilt_zi * x0``).
    Real amplifiers deliver offsets of tens of millivolts; starting from a
    zero state would make the high-pass ring for seconds on that step.

    Chunks holding NaN or Inf are refused before they reach the state: one
    non-finite sample would otherwise make every later output of an IIR
    filter NaN until :meth:`reset`.
    """

    def __init__(self, sos: np.ndarray, n_channels: int) -> None:
        if isinstance(n_channels, bool) or not isinstance(n_channels, int | np.integer):
            raise TypeError(f"n_channels must be an int, got {type(n_channels).__name__}")
        if n_channels < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels}")
        # Kept writable: scipy's compiled sosfilt refuses read-only coefficient buffers.
        self._sos = _check_sos(sos)
        self._n_channels = int(n_channels)
        # Steady-state per unit input, shape (n_sections, 2); scaled by x0 on first use.
        self._zi_unit = signal.sosfilt_zi(self._sos)
        self._zi: np.ndarray | None = None

    @property
    def sos(self) -> np.ndarray:
        """The second-order sections, shape (n_sections, 6), as a read-only view."""
        view = self._sos.view()
        view.setflags(write=False)
        return view

    @property
    def n_channels(self) -> int:
        """Number of channels filtered in parallel."""
        return self._n_channels

    @property
    def initialized(self) -> bool:
        """Whether the state has been set from a first sample since construction or reset."""
        return self._zi is not None

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk, carrying the state over from the previous one.

        Parameters
        ----------
        chunk : array of shape (n_samples, n_channels)
            New samples, oldest first. ``n_samples`` may be 0.

        Returns
        -------
        filtered : array of shape (n_samples, n_channels)
            The filtered samples, float64.

        Raises
        ------
        ValueError
            If ``chunk`` has the wrong shape or holds NaN or Inf; the state is
            left untouched.
        """
        chunk = finite_chunk(chunk, self._n_channels, "filter")
        if chunk.shape[0] == 0:
            return np.empty((0, self._n_channels), dtype=np.float64)
        zi = self._zi
        if zi is None:
            # (n_sections, 2, 1) * (n_channels,) -> (n_sections, 2, n_channels), the layout
            # sosfilt expects for axis=0.
            zi = self._zi_unit[:, :, np.newaxis] * chunk[0]
        filtered, self._zi = signal.sosfilt(self._sos, chunk, axis=0, zi=zi)
        return filtered

    def reset(self) -> None:
        """Forget the state; the next sample re-initialises it (e.g. after a stream gap)."""
        self._zi = None


def _check_sos(sos: np.ndarray) -> np.ndarray:
    """Return ``sos`` as a float64 copy after checking its shape and normalisation."""
    sos = np.array(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[0] < 1 or sos.shape[1] != 6:
        raise ValueError(f"sos must have shape (n_sections, 6), got shape {sos.shape}")
    if not np.isfinite(sos).all():
        raise ValueError("sos holds NaN or Inf coefficients")
    if not np.all(sos[:, 3] == 1.0):
        raise ValueError("sos[:, 3] (the a0 coefficient of each section) must be 1")
    return sos


def _check_below_nyquist(freq: float, name: str, sfreq: float) -> float:
    """Return ``freq`` as a float after checking ``0 < freq < sfreq / 2``."""
    try:
        freq = float(freq)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or None, got {freq!r}") from None
    nyquist = sfreq / 2.0
    if not math.isfinite(freq) or freq <= 0 or freq >= nyquist:
        raise ValueError(
            f"{name}={freq:g} Hz is invalid at sfreq={sfreq:g} Hz: it must be > 0 and below "
            f"the Nyquist frequency {nyquist:g} Hz"
        )
    return freq

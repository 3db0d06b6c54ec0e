"""Band power from a Welch power spectral density, vectorised over channels and windows.

The live loop calls :meth:`BandPower.compute` several times a second on the
latest window of filtered EEG; offline replay calls
:meth:`BandPower.compute_many` on every window of a recording at once. Both
share one implementation, so live and offline features are identical.

The PSD is the one of :func:`mne.time_frequency.psd_array_welch` (itself
:func:`scipy.signal.spectrogram` with ``scaling="density"``, averaged over
segments): each segment has its mean removed, is multiplied by a periodic
window, and its one-sided periodogram is scaled to units of data squared per
Hz. Everything that does not depend on the data (window, scale, band masks) is
computed once in ``__init__``, so one call costs one real FFT over all
segments and channels plus one small matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

__all__ = ["BANDS", "BandPower", "relative_power"]

#: Conventional EEG bands in Hz, ``(low, high)``; see :class:`BandPower` for the
#: edge rule. SMR (sensorimotor rhythm, 12-15 Hz) overlaps low beta on purpose:
#: neurofeedback protocols train it as a band of its own.
BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "smr": (12.0, 15.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}


class BandPower:
    """Welch PSD band power over one window, vectorised over channels.

    The same computation runs over many windows at once offline
    (:meth:`compute_many`).

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    n_window : int
        Number of samples in one analysis window.
    bands : mapping of str to (float, float)
        Band name to ``(low, high)`` in Hz, e.g. :data:`BANDS`. Output rows
        follow the mapping's order.
    n_per_seg : int | None
        Length of each Welch segment, ``1 <= n_per_seg <= n_window``; it is
        also the FFT length (no zero padding). Default ``n_window``: a single
        windowed segment, whose frequency resolution is ``1 / window length``
        (1 Hz for a 1 s window).
    n_overlap : int | None
        Overlap of successive segments in samples, ``0 <= n_overlap < n_per_seg``.
        Default ``n_per_seg // 2`` when segments are shorter than the window,
        0 otherwise.
    window : str | tuple
        Segment taper, anything :func:`scipy.signal.get_window` accepts; taken
        periodic (``fftbins=True``), as MNE and SciPy do for spectra.

    Attributes
    ----------
    freqs : array of shape (n_freqs,)
        Frequencies of the PSD bins in Hz, ``k * sfreq / n_per_seg`` for
        ``k = 0 .. n_per_seg // 2``.
    band_names : list of str
        Band names, in the order of the output rows.

    Raises
    ------
    ValueError
        If a size is out of range, or a band is not ``0 <= low < high <= sfreq / 2``
        or holds no frequency bin.

    Notes
    -----
    **Band edges.** A band ``(low, high)`` holds the bins with
    ``low <= f < high`` (closed below, open above), so adjacent bands such as
    alpha ``(8, 12)`` and SMR ``(12, 15)`` never count a bin twice, and
    contiguous bands add up to the band spanning them. Band power is the sum
    of those PSD bins times the frequency resolution ``sfreq / n_per_seg``, in
    units of data squared (µV² for data in µV). A bin that lies on an edge up
    to floating-point rounding (bin 11 at 300 Hz with 33-sample segments is
    computed as 100.00000000000001 Hz) counts as lying exactly on it.

    **Segments.** Segments start every ``n_per_seg - n_overlap`` samples from
    the start of the window; samples after the last whole segment are not
    used, as in MNE and SciPy.

    **Delay.** A band power describes its whole window; taking the window
    centre as its time gives an effective delay of :attr:`delay` seconds
    behind the newest sample, on top of the delay of any filter before it.

    Non-finite samples make the band powers of their channel NaN; the
    artifact stage is expected to reject such windows.
    """

    def __init__(
        self,
        sfreq: float,
        n_window: int,
        bands: Mapping[str, tuple[float, float]],
        *,
        n_per_seg: int | None = None,
        n_overlap: int | None = None,
        window: str | tuple = "hamming",
    ) -> None:
        try:
            sfreq = float(sfreq)
        except (TypeError, ValueError):
            raise TypeError(f"sfreq must be a number, got {sfreq!r}") from None
        if not math.isfinite(sfreq) or sfreq <= 0:
            raise ValueError(f"sfreq must be a finite number > 0, got {sfreq}")
        n_window = _check_int(n_window, "n_window", 1)
        n_per_seg = n_window if n_per_seg is None else _check_int(n_per_seg, "n_per_seg", 1)
        if n_per_seg > n_window:
            raise ValueError(f"n_per_seg={n_per_seg} must not exceed n_window={n_window}")
        if n_overlap is None:
            n_overlap = n_per_seg // 2 if n_per_seg < n_window else 0
        n_overlap = _check_int(n_overlap, "n_overlap", 0)
        if n_overlap >= n_per_seg:
            raise ValueError(f"n_overlap={n_overlap} must be less than n_per_seg={n_per_seg}")

        self._sfreq = sfreq
        self._n_window = n_window
        self._n_per_seg = n_per_seg
        self._n_overlap = n_overlap
        self._step = n_per_seg - n_overlap
        self._n_segments = 1 + (n_window - n_per_seg) // self._step
        self._window_name = window

        self._taper = signal.get_window(window, n_per_seg, fftbins=True).astype(np.float64)
        n_freqs = n_per_seg // 2 + 1
        self._df = sfreq / n_per_seg
        self.freqs = np.arange(n_freqs, dtype=np.float64) * self._df
        self.freqs.setflags(write=False)

        # Density scaling of scipy.signal.spectrogram (and so MNE): 1 / (fs * sum(w^2)),
        # doubled on every bin whose negative-frequency twin the one-sided FFT folds in
        # (all but DC, and Nyquist when n_per_seg is even). The segment average is
        # folded in too, so the per-call work is a sum over segments.
        scale = np.full(n_freqs, 1.0 / (sfreq * np.sum(self._taper**2) * self._n_segments))
        if n_per_seg % 2 == 0:
            scale[1:-1] *= 2.0
        else:
            scale[1:] *= 2.0
        self._scale = scale

        self.band_names, self._band_matrix = self._band_matrix_for(bands)
        self._band_matrix.setflags(write=False)

    def _band_matrix_for(
        self, bands: Mapping[str, tuple[float, float]]
    ) -> tuple[list[str], np.ndarray]:
        """Build the (n_bands, n_freqs) matrix that turns a PSD into band powers."""
        if not isinstance(bands, Mapping) or len(bands) == 0:
            raise ValueError(
                f"bands must be a non-empty mapping of name to (low, high), got {bands!r}"
            )
        nyquist = self._sfreq / 2.0
        # Tolerance for bins that sit on an edge up to rounding of k * sfreq / n_per_seg.
        tol = 1e-9 * self._df
        names: list[str] = []
        matrix = np.zeros((len(bands), self.freqs.size), dtype=np.float64)
        for row, (name, edges) in enumerate(bands.items()):
            try:
                low, high = (float(edge) for edge in edges)
            except (TypeError, ValueError):
                raise ValueError(
                    f"band {name!r} must be (low, high) in Hz, got {edges!r}"
                ) from None
            if not (0.0 <= low < high <= nyquist):
                raise ValueError(
                    f"band {name!r} = ({low:g}, {high:g}) Hz must satisfy "
                    f"0 <= low < high <= Nyquist ({nyquist:g} Hz)"
                )
            mask = (self.freqs >= low - tol) & (self.freqs < high - tol)
            if not mask.any():
                raise ValueError(
                    f"band {name!r} = ({low:g}, {high:g}) Hz holds no frequency bin at a "
                    f"resolution of {self._df:g} Hz; use longer segments (n_per_seg)"
                )
            matrix[row, mask] = self._df
            names.append(str(name))
        return names, matrix

    # ------------------------------------------------------------- properties
    @property
    def sfreq(self) -> float:
        """Sampling frequency in Hz."""
        return self._sfreq

    @property
    def n_window(self) -> int:
        """Number of samples in one analysis window."""
        return self._n_window

    @property
    def n_per_seg(self) -> int:
        """Length of each Welch segment (and of the FFT)."""
        return self._n_per_seg

    @property
    def n_overlap(self) -> int:
        """Overlap of successive segments in samples."""
        return self._n_overlap

    @property
    def n_segments(self) -> int:
        """Number of Welch segments averaged per window."""
        return self._n_segments

    @property
    def freq_resolution(self) -> float:
        """Spacing of the PSD bins in Hz, ``sfreq / n_per_seg``."""
        return self._df

    @property
    def delay(self) -> float:
        """Effective delay in seconds: from the window centre to its newest sample."""
        return (self._n_window - 1) / (2.0 * self._sfreq)

    @property
    def band_matrix(self) -> np.ndarray:
        """Read-only matrix of shape (n_bands, n_freqs): ``band_power = band_matrix @ psd``."""
        return self._band_matrix

    def __repr__(self) -> str:
        return (
            f"BandPower(sfreq={self._sfreq:g}, n_window={self._n_window}, "
            f"bands={self.band_names}, n_per_seg={self._n_per_seg}, "
            f"n_overlap={self._n_overlap}, window={self._window_name!r})"
        )

    # ---------------------------------------------------------------- compute
    def psd(self, data: np.ndarray) -> np.ndarray:
        """Welch power spectral density of one window.

        Parameters
        ----------
        data : array of shape (n_window, n_channels)
            One window, samples first.

        Returns
        -------
        psd : array of shape (n_channels, n_freqs)
            Power spectral density in units of data squared per Hz, at
            :attr:`freqs`; equal to :func:`mne.time_frequency.psd_array_welch`
            of ``data.T`` with the same segments and window.
        """
        return self._psd(self._check_windows(data, ndim=2))

    def compute(self, data: np.ndarray) -> np.ndarray:
        """Absolute power in each band for one window.

        Parameters
        ----------
        data : array of shape (n_window, n_channels)
            One window, samples first.

        Returns
        -------
        power : array of shape (n_bands, n_channels)
            Band power in units of data squared, rows in :attr:`band_names` order.
        """
        psd = self._psd(self._check_windows(data, ndim=2))
        return self._band_matrix @ psd.T

    def compute_many(self, windows: np.ndarray) -> np.ndarray:
        """Absolute power in each band for many windows at once.

        Parameters
        ----------
        windows : array of shape (n_windows, n_window, n_channels)
            Windows, samples first in each; a strided view such as
            ``sliding_window_view(data, n_window, axis=0)[::hop].transpose(0, 2, 1)``
            is fine.

        Returns
        -------
        power : array of shape (n_windows, n_bands, n_channels)
            Band power per window, equal to :meth:`compute` on each window.

        Notes
        -----
        All windows go through one FFT call; temporary memory peaks at about
        ``3 * n_windows * n_segments * n_per_seg * n_channels * 8`` bytes (11 GB
        for an hour at 500 Hz, 64 channels, 1 s windows every 0.25 s), so split
        long recordings into batches. Batches of tens of windows are also the
        fastest: larger ones are limited by memory traffic, not arithmetic.
        """
        psd = self._psd(self._check_windows(windows, ndim=3))
        return self._band_matrix @ np.swapaxes(psd, -1, -2)

    def _psd(self, windows: np.ndarray) -> np.ndarray:
        """PSD of (..., n_window, n_channels) windows as (..., n_channels, n_freqs)."""
        # View of the segments, (..., n_segments, n_channels, n_per_seg): no copy yet, and
        # the time axis last, where the FFT runs.
        segments = sliding_window_view(windows, self._n_per_seg, axis=-2)[..., :: self._step, :, :]
        # Remove each segment's mean before tapering, as detrend="constant" does in SciPy.
        tapered = segments - segments.mean(axis=-1, keepdims=True)
        tapered *= self._taper
        # In-place steps keep the number of large temporaries (and page faults on
        # fresh allocations, which dominate for batches of windows) to a minimum.
        spectrum = scipy.fft.rfft(tapered, axis=-1, overwrite_x=True)
        del tapered
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        return power.sum(axis=-3) * self._scale

    def _check_windows(self, data: np.ndarray, ndim: int) -> np.ndarray:
        """Return ``data`` as float64 after checking its shape."""
        data = np.asarray(data, dtype=np.float64)
        expected = "(n_window, n_channels)" if ndim == 2 else "(n_windows, n_window, n_channels)"
        if data.ndim != ndim or data.shape[-2] != self._n_window or data.shape[-1] < 1:
            raise ValueError(
                f"data must have shape {expected} with n_window={self._n_window}, "
                f"got shape {data.shape}"
            )
        return data


def relative_power(band: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Ratio of band power to total power, 0 where the total is 0.

    Parameters
    ----------
    band : array
        Power in the band of interest, e.g. shape (n_channels,) or
        (n_bands, n_channels).
    total : array
        Total power, broadcastable against ``band``, e.g. shape (n_channels,).

    Returns
    -------
    ratio : array
        ``band / total`` elementwise in the broadcast shape, float64; 0 where
        ``total`` is 0 (a flat channel has no relative power), without NaN or
        a warning.
    """
    band, total = np.broadcast_arrays(
        np.asarray(band, dtype=np.float64), np.asarray(total, dtype=np.float64)
    )
    ratio = np.zeros(band.shape, dtype=np.float64)
    np.divide(band, total, out=ratio, where=total != 0)
    return ratio


def _check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)

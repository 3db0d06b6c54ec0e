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

:meth:`BandPower.compute_sliding` serves whole recordings, where successive
windows overlap (a 1 s window every 50 ms shares 95 % of its samples with the
next). For the usual tapers (Hamming, Hann, Blackman: a few cosine terms) it
reuses that overlap instead of transforming every window again; its results
equal :meth:`compute` on each window to rounding (below 1e-12 relative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

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


#: Cosine terms a taper may have for the block method of :meth:`BandPower.compute_sliding`
#: (a 4-term Blackman-Harris has 7); beyond that the per-window FFT is cheaper.
_MAX_TAPER_TERMS = 9
#: Memory the batched sliding computations aim at for their temporaries, in bytes.
_BATCH_BYTES = 8 * 2**20
#: Blocks a running sum of the block method spans before it restarts (bounds rounding).
_RUN_BLOCKS = 2**10


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
        used = np.flatnonzero(self._band_matrix.any(axis=0))
        # Contiguous range of the PSD bins some band needs: all the sliding path computes.
        self._bins_used = (int(used[0]), int(used[-1]) + 1)
        self._taper_terms = _cosine_terms(self._taper)

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

    def compute_many(self, windows: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """Absolute power in each band for many windows at once.

        Parameters
        ----------
        windows : array of shape (n_windows, n_window, n_channels)
            Windows, samples first in each; a strided view such as
            ``sliding_window_view(data, n_window, axis=0)[::hop].transpose(0, 2, 1)``
            is fine (it is read one batch at a time, never copied whole).
        batch_size : int | None
            Number of windows per FFT call; None (default) puts all windows
            through one call.

        Returns
        -------
        power : array of shape (n_windows, n_bands, n_channels)
            Band power per window, equal to :meth:`compute` on each window.

        Notes
        -----
        Temporary memory peaks at about
        ``3 * batch_size * n_segments * n_per_seg * n_channels * 8`` bytes (11 GB
        for an hour at 500 Hz, 64 channels, 1 s windows every 0.25 s in one
        batch), so give long recordings a ``batch_size``. Batches of tens of
        windows are also the fastest: larger ones are limited by memory
        traffic, not arithmetic. For every window of one recording,
        :meth:`compute_sliding` is faster still.
        """
        if batch_size is None:
            psd = self._psd(self._check_windows(windows, ndim=3))
            return self._band_matrix @ np.swapaxes(psd, -1, -2)
        batch_size = _check_int(batch_size, "batch_size", 1)
        # Only the shape is checked here: a float64 copy of a strided view of a whole
        # recording is what batching avoids.
        windows = np.asanyarray(windows)
        if windows.ndim != 3 or windows.shape[1] != self._n_window or windows.shape[2] < 1:
            raise ValueError(
                f"data must have shape (n_windows, n_window, n_channels) with "
                f"n_window={self._n_window}, got shape {windows.shape}"
            )
        out = np.empty((windows.shape[0], len(self.band_names), windows.shape[2]))
        for start in range(0, windows.shape[0], batch_size):
            batch = self._check_windows(windows[start : start + batch_size], ndim=3)
            out[start : start + batch_size] = self._band_matrix @ np.swapaxes(
                self._psd(batch), -1, -2
            )
        return out

    def compute_sliding(
        self,
        data: np.ndarray,
        hop: int,
        *,
        batch_size: int | None = None,
        method: Literal["auto", "blocks", "windows"] = "auto",
    ) -> np.ndarray:
        """Absolute band power of every window of one continuous recording.

        Window ``i`` covers samples ``i * hop`` to ``i * hop + n_window - 1``, so
        windows end (one past their last sample) at ``n_window + i * hop``: the
        windows a live loop with this hop computes.

        Parameters
        ----------
        data : array of shape (n_samples, n_channels)
            The recording, samples first.
        hop : int
            Samples between the starts of successive windows, >= 1.
        batch_size : int | None
            Windows computed per step; None chooses a size that keeps
            temporaries near 8 MB (cache-sized, the fastest), whatever the
            recording's length.
        method : {"auto", "blocks", "windows"}
            ``"windows"`` runs :meth:`compute_many` on batches of a strided
            view of ``data`` (no copy). ``"blocks"`` reuses the overlap of
            successive windows (see Notes); it needs a taper made of a few
            cosine terms (Hamming, Hann, Blackman, boxcar) and finite data.
            ``"auto"`` (default) takes ``"blocks"`` when it can.

        Returns
        -------
        power : array of shape (n_windows, n_bands, n_channels)
            ``n_windows = (n_samples - n_window) // hop + 1`` (0 when the
            recording is shorter than one window); equal to :meth:`compute` on
            each window, exactly for ``"windows"`` and to rounding (below
            1e-12 relative) for ``"blocks"``.

        Raises
        ------
        ValueError
            If ``data`` has the wrong shape, ``hop`` is not an int >= 1, or
            ``"blocks"`` is asked for with a taper or data it cannot handle.

        Notes
        -----
        **Blocks.** With ``g`` the greatest common divisor of the hop, the
        segment length and the segment step, every segment is a run of
        ``n_per_seg / g`` consecutive blocks of ``g`` samples. The DFT of each
        block is computed once, at only the bins the bands use, by a matrix
        product; a running sum over blocks (phase-rotated, see
        ``_sliding_blocks``) then gives every segment's DFT as the difference
        of two sums. A taper made of cosine terms,
        ``w[n] = sum_c a_c exp(2j pi c n / n_per_seg)``, turns into a weighted
        sum of neighbouring bins, and removing the segment mean zeroes bin 0.
        The work therefore grows with the recording's length and the number
        of bins used, not with the number of windows: for 1 s windows every
        50 ms, each sample is transformed once instead of 20 times. The
        running sum restarts every 1024 blocks, which bounds its rounding
        error (below 1e-12 relative on 10 minutes of 64-channel EEG; the tests
        check 1e-10).
        """
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] < 1:
            raise ValueError(
                f"data must have shape (n_samples, n_channels), got shape {data.shape}"
            )
        hop = _check_int(hop, "hop", 1)
        if batch_size is not None:
            batch_size = _check_int(batch_size, "batch_size", 1)
        if method not in ("auto", "blocks", "windows"):
            raise ValueError(f"method must be 'auto', 'blocks' or 'windows', got {method!r}")
        n_samples, n_channels = data.shape
        n_windows = max(0, (n_samples - self._n_window) // hop + 1)
        out = np.empty((n_windows, len(self.band_names), n_channels))
        if n_windows == 0:
            return out
        if method != "windows":
            problem = self._blocks_problem(data)
            if problem is None:
                self._sliding_blocks(
                    data[: (n_windows - 1) * hop + self._n_window], hop, out, batch_size
                )
                return out
            if method == "blocks":
                raise ValueError(f"method='blocks' cannot be used: {problem}")
        windows = sliding_window_view(data, self._n_window, axis=0)[::hop].transpose(0, 2, 1)
        if batch_size is None:
            # About _BATCH_BYTES of temporaries per batch (see compute_many).
            per_window = 3 * self._n_segments * self._n_per_seg * n_channels * 8
            batch_size = max(1, _BATCH_BYTES // per_window)
        return self.compute_many(windows[:n_windows], batch_size=batch_size)

    def _blocks_problem(self, data: np.ndarray) -> str | None:
        """Why the block method cannot run on ``data`` (None when it can)."""
        if self._taper_terms is None:
            return (
                f"the taper {self._window_name!r} is not a sum of a few cosine terms "
                "(Hamming, Hann, Blackman and boxcar are)"
            )
        if not np.isfinite(data).all():
            # A running sum would spread one NaN to every later window of its batch.
            return "data holds NaN or Inf"
        return None

    def _sliding_blocks(
        self, data: np.ndarray, hop: int, out: np.ndarray, batch_size: int | None
    ) -> None:
        """Fill ``out`` (n_windows, n_bands, n_channels) by the block method.

        Notation: segments of ``n`` samples, blocks of ``g`` samples, ``L = n / g``
        blocks per segment, ``B_j[m]`` the DFT at bin ``j`` (of the segment's grid,
        ``j / n`` cycles per sample) of block ``m`` in its own time frame. The DFT of
        the segment starting at block ``p`` is ``X_j(p) = sum_{b < L} w^{-b} B_j[p + b]``
        with ``w = exp(2j pi j / L)``. The running sum ``S[m + 1] = w * (S[m] + B[m])``
        gives ``X(p) = S[p + L] - S[p]`` exactly (the older blocks cancel as
        ``w^L = 1``), one addition and one product per block for all windows.
        """
        assert self._taper_terms is not None
        offsets, coefs = self._taper_terms
        n = self._n_per_seg
        n_seg, step = self._n_segments, self._step
        g = math.gcd(hop, n) if n_seg == 1 else math.gcd(math.gcd(hop, n), step)
        n_blk, hop_blk, step_blk = n // g, hop // g, step // g  # segment, hop, step in blocks
        k_lo, k_hi = self._bins_used
        n_out = k_hi - k_lo
        # Bins of the untapered segment DFT that the taper mixes into bins k_lo .. k_hi - 1.
        bins = np.arange(k_lo - offsets.max(), k_hi - offsets.min())
        n_bins = bins.size
        # Block DFT kernel; columns hold (re, im) pairs, so the real matrix product yields
        # complex numbers. Removing each segment's mean zeroes its bin 0 (and +-n ...),
        # whose column is therefore left out (zero) from the start.
        angle = -2.0 * np.pi * np.outer(np.arange(g), bins) / n
        kernel = np.empty((g, 2 * n_bins))
        kernel[:, 0::2] = np.cos(angle)
        kernel[:, 1::2] = np.sin(angle)
        kernel[:, np.repeat(bins % n == 0, 2)] = 0.0
        rotation = np.exp(2j * np.pi * (bins % n_blk) / n_blk)  # (n_bins,), w above
        # Windowed bin k = sum_c a_c X_{k-c}, divided by a_0 (a_0**2 goes in the weights).
        # Being linear, it is applied to the running sums S (once per block) rather than
        # to every window. It runs on the flattened (rows, channels, bins) array shifted
        # by c bins, so every operation is one long contiguous loop; where a shift crosses
        # into the next row the result lands in the last columns, which get weight 0.
        # Tapers symmetric about their centre (all the usual ones) have real a_c with
        # a_c = a_{-c}: each such pair costs one addition and one scaling, on float
        # views (twice as fast as complex arithmetic).
        centre = int(np.flatnonzero(offsets == 0)[0])
        ratios = coefs / coefs[centre]
        real = bool(np.all(np.abs(ratios.imag) <= 1e-12))
        width = 2 if real else 1  # view elements per complex number
        ratio_of = {int(c): complex(r) for c, r in zip(offsets, ratios, strict=True)}
        groups: list[tuple[list[int], complex]] = []  # (offsets c of the terms, a_c / a_0)
        for offset, ratio in ratio_of.items():
            if offset == 0 or any(offset in taken for taken, _ in groups):
                continue
            members = [offset]
            twin = ratio_of.get(-offset)
            if twin is not None and abs(twin - ratio) <= 1e-12:
                members.append(-offset)
            groups.append((members, ratio))
        c_max, span = int(offsets.max()), int(offsets.max() - offsets.min())
        # Power and band sum in one product: each bin's weight twice, for re**2 and im**2;
        # column b of the tapered array is bin k_lo + b, and columns from n_out on are 0.
        weights = np.zeros((n_bins, len(self.band_names)))
        weights[:n_out] = (
            self._band_matrix[:, k_lo:k_hi].T
            * (self._scale[k_lo:k_hi] * abs(coefs[centre]) ** 2)[:, np.newaxis]
        )
        weights = np.repeat(weights, 2, axis=0)  # (2 * n_bins, n_bands)

        n_windows, n_bands, n_channels = out.shape
        span_blk = (n_seg - 1) * step_blk + n_blk  # blocks under one window's segments
        if batch_size is None:
            # Temporaries of about _BATCH_BYTES (the running sums of one batch dominate).
            fit = _BATCH_BYTES // (3 * 16 * n_channels * n_bins) - span_blk
            batch_size = max(fit // hop_blk, 1)
        # Whole rows: the per-block product then runs as one contiguous loop.
        rotation = np.ascontiguousarray(np.broadcast_to(rotation, (n_channels, n_bins)))
        # Buffers for the largest batch, reused: fresh arrays would cost page faults.
        max_rows = (batch_size - 1) * hop_blk + span_blk
        spectra_buf = np.empty((max_rows * n_channels, 2 * n_bins))
        sums = np.empty((max_rows + 1, n_channels, n_bins), dtype=np.complex128)
        tapered = np.empty_like(sums)  # the taper applied to ``sums``, row by row
        scratch = np.empty_like(sums)
        seg_buf = np.empty((batch_size, n_channels, n_bins), dtype=np.complex128)
        band_buf = np.empty((batch_size * n_channels, n_bands))
        # The running sums carry over from batch to batch, so each block is transformed
        # once. They restart every _RUN_BLOCKS blocks: the cancellation of old blocks is
        # exact up to rounding of about L * 1e-16 of the sums' size, which grows as the
        # square root of the blocks summed.
        run_start = prev_start = -1
        prev_rows = 0
        for w0 in range(0, n_windows, batch_size):
            w1 = min(w0 + batch_size, n_windows)
            count = w1 - w0
            m0 = w0 * hop_blk  # sums[i] holds S at block m0 + i
            n_rows = (count - 1) * hop_blk + span_blk
            kept = prev_start + prev_rows - m0  # rows of the last batch that this one needs
            if run_start < 0 or kept < 0 or m0 - run_start > _RUN_BLOCKS:
                run_start, kept = m0, 0
                sums[0] = 0.0
                tapered[0] = 0.0
            else:
                # The recursion needs only the last sum; the differences need the tapered
                # sums of every row this batch shares with the last.
                sums[kept] = sums[prev_rows]
                tapered[: kept + 1] = tapered[m0 - prev_start : prev_rows + 1]
            new = n_rows - kept
            blocks = data[(m0 + kept) * g : (m0 + n_rows) * g].reshape(new, g, n_channels)
            spectra = spectra_buf[: new * n_channels]
            np.dot(np.ascontiguousarray(blocks.transpose(0, 2, 1)).reshape(-1, g), kernel,
                   out=spectra)  # fmt: skip
            spectra_c = spectra.view(np.complex128).reshape(new, n_channels, n_bins)
            # numpy's cumsum-like ufunc methods are slow along the first axis of this
            # layout; a loop of whole-row operations is not.
            for m in range(kept, n_rows):
                row = sums[m + 1]
                np.add(sums[m], spectra_c[m - kept], out=row)
                row *= rotation
            fresh = slice(kept + 1, n_rows + 1)
            self._taper_rows(
                sums[fresh], tapered[fresh], scratch[fresh], groups, width, c_max, span
            )
            seg = seg_buf[:count]
            band = band_buf[: count * n_channels]
            for i in range(n_seg):
                lo = i * step_blk
                hi = lo + (count - 1) * hop_blk + 1
                np.subtract(
                    tapered[lo + n_blk : hi + n_blk : hop_blk], tapered[lo:hi:hop_blk], out=seg
                )
                flat = seg.view(np.float64).reshape(count * n_channels, 2 * n_bins)
                np.square(flat, out=flat)
                # np.dot rather than @: OpenBLAS is several times slower on this tall,
                # six-column product through matmul.
                if i == 0:
                    np.dot(flat, weights, out=band)
                else:
                    band += np.dot(flat, weights)
            out[w0:w1] = band.reshape(count, n_channels, n_bands).transpose(0, 2, 1)
            prev_start, prev_rows = m0, n_rows

    @staticmethod
    def _taper_rows(
        sums: np.ndarray,
        tapered: np.ndarray,
        scratch: np.ndarray,
        groups: list[tuple[list[int], complex]],
        width: int,
        c_max: int,
        span: int,
    ) -> None:
        """``tapered[..., b] = sum_c ratio_c sums[..., b + c_max - c]`` on flat views."""
        views = [a.view(np.float64) if width == 2 else a for a in (sums, tapered, scratch)]
        sums_f, tapered_f, scratch_f = (v.reshape(-1) for v in views)
        length = width * (sums.size - span)
        dest, spare = tapered_f[:length], scratch_f[:length]
        tapered_f[length:] = 0.0

        def shifted(offset: int) -> np.ndarray:
            start = width * (c_max - offset)
            return sums_f[start : start + length]

        if not groups:
            dest[...] = shifted(0)
        for i_group, (members, ratio) in enumerate(groups):
            factor = ratio.real if width == 2 else ratio
            if len(members) == 2:
                np.add(shifted(members[0]), shifted(members[1]), out=spare)
                spare *= factor
            else:
                np.multiply(shifted(members[0]), factor, out=spare)
            if i_group == 0:
                np.add(shifted(0), spare, out=dest)
            else:
                dest += spare

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


def _cosine_terms(taper: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Write a periodic taper as ``sum_c a_c exp(2j pi c n / len)``, if few terms do.

    Returns the signed frequency offsets ``c`` and coefficients ``a_c`` (from
    the taper's DFT), or None when more than :data:`_MAX_TAPER_TERMS` are
    needed (Kaiser, Tukey ...). Terms below 1e-12 of the largest are rounding
    noise of an exact cosine sum and are dropped.
    """
    n = taper.size
    coefs = np.fft.fft(taper) / n
    keep = np.flatnonzero(np.abs(coefs) > 1e-12 * np.abs(coefs).max())
    if keep.size > _MAX_TAPER_TERMS:
        return None
    offsets = np.where(keep > n // 2, keep - n, keep)
    return offsets.astype(np.int64), coefs[keep]


def _check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)

"""Protocol features from raw EEG: reference, filter, buffer, window, features.

:class:`FeatureExtractor` is the one object that turns samples into named
feature values; the live engine and offline replay both use it, so the same
samples give the same features whatever the chunking. Feature kinds: band
power (absolute or relative, over channels or a scalp region), ratio of two
features, asymmetry ``ln P(right) - ln P(left)``; bands in Hz or relative to
the individual alpha frequency (IAF); power by Welch over the window or by a
causal low-delay envelope (:class:`~neuroadapt.dsp.envelope.EnvelopeTracker`)
averaged over the last hop.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neuroadapt.buffer import RingBuffer
from neuroadapt.dsp.artifacts import ArtifactDetector, ArtifactMetrics, WindowArtifacts, is_frontal
from neuroadapt.dsp.bandpower import BandPower, relative_power
from neuroadapt.dsp.envelope import EnvelopeTracker
from neuroadapt.dsp.filters import CausalFilter, design_preprocessing
from neuroadapt.dsp.measures import DEFAULT_IAF, asymmetry, ratio, region_indices
from neuroadapt.dsp.quality import ChannelQuality, QualityChange
from neuroadapt.protocol.loader import check_against_stream
from neuroadapt.protocol.schema import Protocol

log = logging.getLogger(__name__)

#: Windows computed together at most (a push is cut into pieces of that many hops).
_BATCH = 64
_BATCH_BYTES = 8 * 2**20
#: Channel-windows (measured channels times windows) from which the artifact
#: measures of a piece are split between two threads: large pushes only (replay,
#: a catch-up after a stall), never the live engine's window-by-window pushes.
_PARALLEL_MIN = 512
#: Share of those windows measured by the pushing thread (which also computes the
#: features meanwhile; measured as fast as any other share on 2 cores).
_SHARE_HERE = 0.5
#: Windows whose artifact measures are computed at once, at most: more make
#: temporary arrays that the allocator maps afresh from the system each time.
_MEASURE_BATCH = 40

_CORES = os.cpu_count() or 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _measure_pool() -> ThreadPoolExecutor | None:
    """The one worker thread shared by all extractors, started on first use.

    None on a single-core machine, where a second thread would only add work.
    Its thread is joined at interpreter exit (``concurrent.futures`` does so).
    """
    global _pool
    if _pool is not None:
        return _pool
    if _CORES < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuroadapt-measures")
        return _pool


def _forget_pool() -> None:
    """A forked child has no worker thread: let it start its own pool."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


@dataclass(frozen=True)
class FeatureFrame:
    """Feature values of one analysis window.

    Attributes
    ----------
    t : float
        LSL time of the newest sample in the window.
    index : int
        Absolute index (count of samples since the extractor started) one past
        the window's last sample.
    values : dict of str to float
        One value per protocol feature (NaN where the window had dropouts).
    artifacts : WindowArtifacts or None
        What the artifact detectors found in the window (None when disabled).
    quality : list of QualityChange
        Per-channel signal-quality changes decided at this window.
    spectrum : (freqs, psd) or None
        Arrays of shape (n_freqs,): the window's power spectrum averaged over
        the channels of IAF-relative features (None when the protocol has
        none), for the engine to find the IAF in the calibration baseline.
    """

    t: float
    index: int
    values: dict[str, float]
    artifacts: WindowArtifacts | None = None
    quality: list[QualityChange] = field(default_factory=list)
    spectrum: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def finite(self) -> bool:
        """True when every feature value is finite (no dropout), artifacts aside."""
        return all(map(math.isfinite, self.values.values()))

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the artifact detectors that flagged the window."""
        return tuple(self.artifacts.flags) if self.artifacts is not None else ()

    @property
    def valid(self) -> bool:
        """True when the window may drive feedback: finite values, no artifact."""
        if self.artifacts is not None and self.artifacts.contaminated:
            return False
        return self.finite

    @property
    def reason(self) -> str:
        """Why the window is not valid ("" when it is)."""
        if self.artifacts is not None and self.artifacts.contaminated:
            return self.artifacts.describe()
        return "" if self.valid else "signal dropout"


class FeatureExtractor:
    """Computes a protocol's features on a sliding window, chunk by chunk.

    Parameters
    ----------
    protocol : Protocol
        Supplies the signal settings (high-pass, notch, window, hop) and the
        features.
    sfreq : float
        Sampling rate of the incoming stream in Hz.
    ch_names : sequence of str
        Channel labels of the incoming stream (matched case-insensitively).
    stream : str
        Name of the stream, for error messages.
    ch_types : sequence of str, optional
        Type of each channel (``eeg``, ``misc``...); only EEG channels are
        judged for artifacts and quality. All EEG when omitted.
    detect_artifacts : bool
        Run the artifact detectors and per-channel quality on every window.

    Raises
    ------
    ProtocolError
        When a needed channel is missing or a band is above Nyquist.
    """

    def __init__(
        self,
        protocol: Protocol,
        sfreq: float,
        ch_names: Sequence[str],
        stream: str = "stream",
        *,
        ch_types: Sequence[str] | None = None,
        detect_artifacts: bool = True,
    ) -> None:
        check_against_stream(protocol, sfreq, ch_names, stream)
        upper = [c.upper() for c in ch_names]
        types = [t.lower() for t in ch_types] if ch_types else ["eeg"] * len(ch_names)
        eeg = [i for i, t in enumerate(types) if t == "eeg"]
        # Stream columns each feature reads: named channels, or a region's.
        feature_cols: dict[str, list[int]] = {}
        for f in protocol.features:
            if f.region is not None:
                feature_cols[f.name] = region_indices(list(ch_names), f.region)
            elif f.kind != "ratio":
                feature_cols[f.name] = [upper.index(c.upper()) for c in f.site_channels]
        cols = [upper.index(c.upper()) for c in protocol.channels]
        for idx in feature_cols.values():
            cols += [i for i in idx if i not in cols]
        used = [ch_names[i] for i in cols]
        self._pick = np.array(cols, dtype=int)
        ref = protocol.signal.reference
        if ref == "average":
            self._ref: np.ndarray | None = np.array(eeg or range(len(ch_names)), dtype=int)
        elif isinstance(ref, list):
            self._ref = np.array([upper.index(c.upper()) for c in ref], dtype=int)
        else:
            self._ref = None
        # Artifacts that hold feedback are judged on the feature channels and the
        # frontal channels (they see blinks first); quality is shown for every
        # EEG channel.
        judged = sorted(set(self._pick.tolist()) | {i for i in eeg if is_frontal(ch_names[i])})
        self._judged = np.array(judged, dtype=int)
        self._eeg = np.array(eeg, dtype=int)
        line = float(protocol.signal.notch or 50)
        self.detector: ArtifactDetector | None = None
        self.quality: ChannelQuality | None = None
        # Each channel is measured once per window, for both the detectors (judged
        # channels) and the quality (EEG channels): the union, in stream order.
        measured = sorted(set(judged) | set(eeg))
        self._measured = np.array(measured, dtype=int)
        self._judged_at = np.searchsorted(self._measured, self._judged)
        self._eeg_at = np.searchsorted(self._measured, self._eeg)
        self._measurer: ArtifactDetector | None = None
        if detect_artifacts:
            try:
                self.detector = ArtifactDetector(
                    sfreq, [ch_names[i] for i in judged], line_freq=line
                )
                if eeg:
                    self.quality = ChannelQuality(sfreq, [ch_names[i] for i in eeg], line_freq=line)
                self._measurer = ArtifactDetector(
                    sfreq, [ch_names[i] for i in measured], line_freq=line, frontal=[]
                )
            except ValueError as exc:  # e.g. too low a rate to see muscle activity
                log.warning("%s: artifact detection is off: %s", stream, exc)
                self.detector = self.quality = self._measurer = None
        self.sfreq = float(sfreq)
        sig = protocol.signal
        self.n_window = int(round(sig.window * sfreq))
        self.n_hop = max(1, int(round(sig.hop * sfreq)))
        self._filter = CausalFilter(
            design_preprocessing(sfreq, sig.highpass or None, sig.notch or None), len(used)
        )
        # Room for one window plus the samples that arrive between two windows,
        # with slack for bursty delivery; larger pushes are cut into pieces, each
        # of whose windows are computed together: up to _BATCH windows, as long as
        # a piece of raw samples stays within _BATCH_BYTES.
        batch = min(_BATCH, _BATCH_BYTES // (8 * len(ch_names) * self.n_hop))
        self._piece = max(self.n_hop, int(sfreq), batch * self.n_hop)
        self._buffer = RingBuffer(self.n_window + 2 * self._piece, len(used))
        self._raw = RingBuffer(self.n_window + 2 * self._piece, len(ch_names))
        self._protocol = protocol
        self._chans = {
            name: np.array([cols.index(i) for i in idx], dtype=int)
            for name, idx in feature_cols.items()
        }
        iaf_cols = sorted(
            {
                c
                for f in protocol.features
                if f.iaf_band is not None
                for c in self._chans[f.name].tolist()
            }
        )
        self._iaf_chans = np.array(iaf_cols, dtype=int) if iaf_cols else None
        self.names = [f.name for f in protocol.features]
        # (feature, "band" | "total") -> tracker, its output buffer, and the absolute
        # sample index at which that buffer started (trackers rebuilt at the IAF
        # calibration start mid-stream).
        self._envelopes: dict[tuple[str, str], tuple[EnvelopeTracker, RingBuffer, int]] = {}
        self.iaf = DEFAULT_IAF
        self._build(DEFAULT_IAF)
        self._next_end = self.n_window
        # Non-finite samples (dropouts some drivers send as NaN) are replaced by
        # each channel's last finite value so the filter state stays sane, and
        # every window touching them, or the filter's settling time after them,
        # yields NaN features: the engine then holds instead of rewarding noise.
        self._last_finite = np.zeros(len(ch_names))
        # Runs [lo, hi) of absolute sample indices that held non-finite values.
        self._bad_runs: deque[tuple[int, int]] = deque()
        self._settle = int(sfreq)

    def _build(self, iaf: float) -> None:
        """Band-power estimators and envelope trackers for the bands at ``iaf``."""
        bands: list[tuple[float, float]] = [(1.0, 40.0)] if self._iaf_chans is not None else []
        self._specs: list[tuple] = []
        for f in self._protocol.features:
            band = f.resolved_band(iaf)
            if band is None:
                self._specs.append((f, None, None))
                continue
            total = tuple(f.total) if f.total is not None else None
            for b in (band, total):
                if b is not None and b not in bands:
                    bands.append(b)
            self._specs.append(
                (f, bands.index(band), bands.index(total) if total is not None else None)
            )
            if f.method == "envelope":
                n = len(self._chans[f.name])
                for role, b in (("band", band), ("total", total)):
                    if b is not None:
                        tracker = EnvelopeTracker(self.sfreq, b, n)
                        buf = RingBuffer(self._buffer.capacity, n)
                        self._envelopes[(f.name, role)] = (tracker, buf, self._buffer.n_written)
        self._bp = BandPower(
            self.sfreq, self.n_window, {f"{lo:g}-{hi:g}": (lo, hi) for lo, hi in bands}
        )

    def set_iaf(self, iaf: float) -> None:
        """Move IAF-relative bands to a measured individual alpha frequency.

        Envelope trackers of those features restart (and settle again).
        """
        iaf = float(iaf)
        if not np.isfinite(iaf) or iaf <= 0 or iaf == self.iaf:
            return
        self.iaf = iaf
        kept = {
            k: v
            for k, v in self._envelopes.items()
            if next(f for f in self._protocol.features if f.name == k[0]).iaf_band is None
        }
        self._envelopes = {}
        self._build(iaf)
        self._envelopes.update(kept)

    @property
    def batch_samples(self) -> int:
        """Samples of a push whose windows are computed together (larger pushes are cut).

        Offline callers are fastest pushing multiples of it.
        """
        return self._piece

    @property
    def n_received(self) -> int:
        """Samples received so far."""
        return self._buffer.n_written

    def push(self, data: np.ndarray, timestamps: np.ndarray) -> list[FeatureFrame]:
        """Feed new samples; return the features of every window they complete.

        Parameters
        ----------
        data : array of shape (n_samples, n_channels)
            Raw samples of all stream channels.
        timestamps : array of shape (n_samples,)
            Their LSL times.

        Returns
        -------
        frames : list of FeatureFrame
            In time order; empty if no window ended in this chunk.
        """
        frames: list[FeatureFrame] = []
        for start in range(0, len(data), self._piece):
            piece = self._repair(np.asarray(data[start : start + self._piece], dtype=float))
            stamps = timestamps[start : start + self._piece]
            self._raw.write(piece, stamps)
            if self._ref is not None:
                piece = piece - piece[:, self._ref].mean(axis=1, keepdims=True)
            filtered = self._filter.process(piece[:, self._pick])
            self._buffer.write(filtered, stamps)
            for (name, _), (tracker, buf, _) in self._envelopes.items():
                buf.write(tracker.process(filtered[:, self._chans[name]]), stamps)
            ends = []
            while self._buffer.n_written >= self._next_end:
                ends.append(self._next_end)
                self._next_end += self.n_hop
            if ends:
                frames += self._frames(ends)
        return frames

    def _frames(self, ends: list[int]) -> list[FeatureFrame]:
        """The frames of windows ending at ``ends`` (one hop apart), computed together.

        Every window's result depends on its own samples only, so computing
        windows together gives what computing each alone does, whatever the
        chunking.
        """
        n_win, hop = self.n_window, self.n_hop
        first = ends[0] - n_win
        span = ends[-1] - first
        measure = self._measurer is not None and (
            self.detector is not None or self.quality is not None
        )
        if measure:
            # The artifact measures start first: part of them may run in the worker
            # thread while this one computes the features.
            raw = self._raw.since(first)[0][:span]
            if len(self._measured) != raw.shape[1]:
                raw = raw[:, self._measured]
            pending = self._start_measures(raw, len(ends))
        win_all, ts_all = self._buffer.since(first)
        win_all = win_all[:span]
        # (n_windows, n_window, n_used) view of the windows, no copy.
        windows = sliding_window_view(win_all, n_win, axis=0)[::hop].transpose(0, 2, 1)
        times = ts_all[n_win - 1 : span : hop].tolist()
        # A dropout inside the window, or in the filter's settling time before it,
        # voids the window: exactly the windows that contain such samples, so the
        # result does not depend on how the samples were chunked.
        void = []
        for end in ends:
            horizon = end - n_win - self._settle
            while self._bad_runs and self._bad_runs[0][1] <= horizon:
                self._bad_runs.popleft()
            void.append(any(lo < end and hi > horizon for lo, hi in self._bad_runs))
        try:
            values = self._values(windows, ends, void)
            spectra: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(ends)
            if self._iaf_chans is not None:
                keep = [i for i, v in enumerate(void) if not v]
                if keep:
                    psd = self._bp._psd(windows[keep][..., self._iaf_chans]).mean(axis=1)
                    for i, row in zip(keep, psd, strict=True):
                        spectra[i] = (self._bp.freqs, row)
        except BaseException:
            if measure and pending[1] is not None:
                wait([pending[1]])  # the worker reads the buffer: let it finish first
            raise
        artifacts: list[WindowArtifacts | None] = [None] * len(ends)
        changes: list[list[QualityChange]] = [[] for _ in ends]
        if measure:
            artifacts, changes = self._finish_measures(raw, times, *pending)
        return [
            FeatureFrame(*row)
            for row in zip(times, ends, values, artifacts, changes, spectra, strict=True)
        ]

    def _start_measures(self, raw: np.ndarray, n_windows: int) -> tuple[int, Future | None]:
        """Hand the later windows of ``raw`` to the worker thread when they are many.

        Returns how many windows are left to this thread, and the worker's
        future (None when this thread measures them all: small pushes, such as
        the live engine's, or a single core).
        """
        pool = (
            _measure_pool()
            if n_windows >= 4 and n_windows * len(self._measured) >= _PARALLEL_MIN
            else None
        )
        if pool is None:
            return n_windows, None
        here = max(1, int(n_windows * _SHARE_HERE))
        return here, pool.submit(self._measure_part, raw[here * self.n_hop :])

    def _finish_measures(
        self, raw: np.ndarray, times: list[float], here: int, later: Future | None
    ) -> tuple[list[WindowArtifacts | None], list[list[QualityChange]]]:
        """Verdicts and quality changes of every window of ``raw``, with the worker's part.

        Each window's measures and verdicts depend on its own samples only, so
        they are the same, bit for bit, whichever thread computed them. The
        quality, which follows the windows in order, takes this thread's (earlier)
        windows while the worker finishes the later ones.
        """
        if later is None:
            metrics, artifacts = self._measure_part(raw)
            return artifacts, self._quality_changes(metrics, times)
        try:
            metrics, artifacts = self._measure_part(raw[: (here - 1) * self.n_hop + self.n_window])
            changes = self._quality_changes(metrics, times[:here])
        except BaseException:
            wait([later])  # the worker reads the buffer: let it finish first
            raise
        metrics, theirs = later.result()
        return artifacts + theirs, changes + self._quality_changes(metrics, times[here:])

    def _quality_changes(
        self, metrics: ArtifactMetrics, times: list[float]
    ) -> list[list[QualityChange]]:
        """The channel quality's changes at each of these windows, in order."""
        if self.quality is None:
            return [[] for _ in times]
        return self.quality.update_measured(metrics.take(self._eeg_at), times)

    def _measure_part(
        self, raw: np.ndarray
    ) -> tuple[ArtifactMetrics, list[WindowArtifacts | None]]:
        """Measures of every window of ``raw`` (one hop apart), and the detectors' verdicts.

        At most ``_MEASURE_BATCH`` windows are measured at once: their temporary
        arrays then stay small enough to be recycled by the allocator (and stay in
        cache) instead of being mapped afresh from the system at every piece.
        """
        assert self._measurer is not None
        n_win, hop = self.n_window, self.n_hop
        n = (len(raw) - n_win) // hop + 1
        size = -(-n // -(-n // _MEASURE_BATCH))  # batches of even size
        parts = []
        for start in range(0, n, size):
            stop = min(n, start + size)
            # Non-finite samples were replaced on arrival (_repair).
            parts.append(
                self._measurer.measure_sliding(
                    raw[start * hop : (stop - 1) * hop + n_win], n_win, hop, finite=True
                )
            )
        metrics = parts[0] if len(parts) == 1 else _concat(parts)
        artifacts: list[WindowArtifacts | None] = [None] * n
        if self.detector is not None:
            artifacts = list(self.detector.results(metrics.take(self._judged_at)))
        return metrics, artifacts

    def _values(
        self, windows: np.ndarray, ends: list[int], void: list[bool]
    ) -> list[dict[str, float]]:
        """Feature values of (n_windows, n_window, n_used) filtered windows; NaN if void."""
        power = self._bp.compute_many(windows)  # (n_windows, n_bands, n_channels)
        out: dict[str, np.ndarray] = {}
        for f, band, total in self._specs:
            if f.kind == "ratio":
                out[f.name] = ratio(out[f.numerator], out[f.denominator])
                continue
            chans = self._chans[f.name]
            if f.method == "envelope":
                p_band = np.array([self._envelope_power(f.name, "band", e) for e in ends])
                p_total = (
                    np.array([self._envelope_power(f.name, "total", e) for e in ends])
                    if total is not None
                    else None
                )
            else:
                p_band = power[:, band][:, chans]
                p_total = power[:, total][:, chans] if total is not None else None
            if f.kind == "asymmetry":
                out[f.name] = asymmetry(p_band[:, 1], p_band[:, 0])
            elif p_total is None:
                out[f.name] = _row_means(p_band)
            else:
                out[f.name] = _row_means(relative_power(p_band, p_total))
        columns = [out[name].tolist() for name in self.names]
        nan = dict.fromkeys(self.names, float("nan"))
        return [
            dict(nan) if v else dict(zip(self.names, row, strict=True))
            for v, row in zip(void, zip(*columns, strict=True), strict=True)
        ]

    def _repair(self, piece: np.ndarray) -> np.ndarray:
        """Replace non-finite samples by the channel's last finite value."""
        bad = ~np.isfinite(piece)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            base = self._buffer.n_written
            # consecutive bad rows form one run
            breaks = np.flatnonzero(np.diff(rows) > 1)
            for lo, hi in zip(
                np.r_[rows[0], rows[breaks + 1]], np.r_[rows[breaks], rows[-1]], strict=True
            ):
                self._bad_runs.append((base + int(lo), base + int(hi) + 1))
            piece = piece.copy()
            for i in range(len(piece)):  # rare path: only chunks with dropouts
                piece[i] = np.where(bad[i], self._last_finite, piece[i])
                self._last_finite = piece[i]
        elif len(piece):
            self._last_finite = piece[-1].copy()
        return piece

    def compute(self, window: np.ndarray, end: int | None = None) -> dict[str, float]:
        """Feature values of one filtered window of shape (n_window, n_used_channels).

        ``end`` (one past the window's last absolute sample index) is needed by
        envelope features, which read their tracker's output over the last hop;
        without it they are NaN.
        """
        power = self._bp.compute(window)  # (n_bands, n_channels)
        out: dict[str, float] = {}
        for f, band, total in self._specs:
            if f.kind == "ratio":
                out[f.name] = float(ratio(out[f.numerator], out[f.denominator]))
                continue
            chans = self._chans[f.name]
            if f.method == "envelope":
                p_band = self._envelope_power(f.name, "band", end)
                p_total = self._envelope_power(f.name, "total", end) if total is not None else None
            else:
                p_band = power[band, chans]
                p_total = power[total, chans] if total is not None else None
            if f.kind == "asymmetry":
                left, right = p_band[0], p_band[1]
                out[f.name] = float(asymmetry(right, left))
            elif p_total is None:
                out[f.name] = float(p_band.mean())
            else:
                out[f.name] = float(relative_power(p_band, p_total).mean())
        return out

    def _envelope_power(self, name: str, role: str, end: int | None) -> np.ndarray:
        """Mean envelope power (A²/2, as a sinusoid's) over the last hop, per channel."""
        tracker, buf, offset = self._envelopes[(name, role)]
        first = end - self.n_hop - offset if end is not None else -1
        if first < 0:
            return np.full(tracker.n_channels, np.nan)
        env = buf.since(first)[0][: self.n_hop]
        return (env**2).mean(axis=0) / 2.0


def _concat(parts: list[ArtifactMetrics]) -> ArtifactMetrics:
    """The measures of consecutive runs of windows, as one."""
    return ArtifactMetrics(
        **{
            f.name: np.concatenate([getattr(m, f.name) for m in parts])
            for f in fields(ArtifactMetrics)
        }
    )


def _row_means(a: np.ndarray) -> np.ndarray:
    """Mean of each row of a 2-D array, bit for bit what ``row.mean()`` gives.

    NumPy sums a 1-D array pairwise in blocks of eight but may sum along the
    rows of a 2-D array in plain order; both agree below eight columns.
    """
    if a.shape[1] < 8:
        return a.mean(axis=1)
    return np.array([row.mean() for row in a])

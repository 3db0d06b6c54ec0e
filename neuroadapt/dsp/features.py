"""Protocol features from raw EEG: filter, buffer, window, band power.

:class:`FeatureExtractor` is the one object that turns samples into named
feature values; the live engine and offline replay both use it, so the same
samples give the same features whatever the chunking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..buffer import RingBuffer
from ..protocol.loader import check_against_stream
from ..protocol.schema import Protocol
from .artifacts import ArtifactDetector, WindowArtifacts, is_frontal
from .bandpower import BandPower, relative_power
from .filters import CausalFilter, design_preprocessing
from .quality import ChannelQuality, QualityChange

log = logging.getLogger(__name__)


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
    """

    t: float
    index: int
    values: dict[str, float]
    artifacts: WindowArtifacts | None = None
    quality: list[QualityChange] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the window may drive feedback: finite values, no artifact."""
        if self.artifacts is not None and self.artifacts.contaminated:
            return False
        return all(np.isfinite(v) for v in self.values.values())

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

    def __init__(self, protocol: Protocol, sfreq: float, ch_names: Sequence[str],
                 stream: str = "stream", *, ch_types: Sequence[str] | None = None,
                 detect_artifacts: bool = True) -> None:
        check_against_stream(protocol, sfreq, ch_names, stream)
        upper = [c.upper() for c in ch_names]
        used = protocol.channels
        self._pick = np.array([upper.index(c.upper()) for c in used], dtype=int)
        types = [t.lower() for t in ch_types] if ch_types else ["eeg"] * len(ch_names)
        eeg = [i for i, t in enumerate(types) if t == "eeg"]
        # Artifacts that hold feedback are judged on the feature channels and the
        # frontal channels (they see blinks first); quality is shown for every
        # EEG channel.
        judged = sorted(set(self._pick.tolist()) | {i for i in eeg if is_frontal(ch_names[i])})
        self._judged = np.array(judged, dtype=int)
        self._eeg = np.array(eeg, dtype=int)
        line = float(protocol.signal.notch or 50)
        self.detector: ArtifactDetector | None = None
        self.quality: ChannelQuality | None = None
        if detect_artifacts:
            try:
                self.detector = ArtifactDetector(sfreq, [ch_names[i] for i in judged],
                                                 line_freq=line)
                if eeg:
                    self.quality = ChannelQuality(sfreq, [ch_names[i] for i in eeg],
                                                  line_freq=line)
            except ValueError as exc:  # e.g. too low a rate to see muscle activity
                log.warning("%s: artifact detection is off: %s", stream, exc)
                self.detector = self.quality = None
        self.sfreq = float(sfreq)
        sig = protocol.signal
        self.n_window = int(round(sig.window * sfreq))
        self.n_hop = max(1, int(round(sig.hop * sfreq)))
        self._filter = CausalFilter(design_preprocessing(sfreq, sig.highpass or None,
                                                         sig.notch or None),
                                    len(used))
        # Room for one window plus the samples that arrive between two windows,
        # with slack for bursty delivery; larger pushes are cut into pieces.
        self._piece = max(self.n_hop, int(sfreq))
        self._buffer = RingBuffer(self.n_window + 2 * self._piece, len(used))
        self._raw = RingBuffer(self.n_window + 2 * self._piece, len(ch_names))
        bands: list[tuple[float, float]] = []
        for f in protocol.features:
            for b in (f.band, f.total):
                if b is not None and tuple(b) not in bands:
                    bands.append(tuple(b))
        self._bp = BandPower(sfreq, self.n_window, {f"{lo:g}-{hi:g}": (lo, hi)
                                                    for lo, hi in bands})
        self._specs = []
        for f in protocol.features:
            chans = np.array([used.index(c) for c in f.channels], dtype=int)
            band = bands.index(tuple(f.band))
            total = bands.index(tuple(f.total)) if f.total is not None else None
            self._specs.append((f.name, band, total, chans))
        self.names = [f.name for f in protocol.features]
        self._next_end = self.n_window
        # Non-finite samples (dropouts some drivers send as NaN) are replaced by
        # each channel's last finite value so the filter state stays sane, and
        # every window touching them, or the filter's settling time after them,
        # yields NaN features: the engine then holds instead of rewarding noise.
        self._last_finite = np.zeros(len(ch_names))
        self._last_bad = -(10**12)
        self._settle = int(sfreq)

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
            piece = self._repair(np.asarray(data[start:start + self._piece], dtype=float))
            stamps = timestamps[start:start + self._piece]
            self._raw.write(piece, stamps)
            self._buffer.write(self._filter.process(piece[:, self._pick]), stamps)
            while self._buffer.n_written >= self._next_end:
                frames.append(self._frame(self._next_end))
                self._next_end += self.n_hop
        return frames

    def _frame(self, end: int) -> FeatureFrame:
        first = end - self.n_window
        win, ts = self._buffer.since(first)
        t = float(ts[self.n_window - 1])
        if first - self._settle <= self._last_bad:
            values = dict.fromkeys(self.names, float("nan"))
        else:
            values = self.compute(win[: self.n_window])
        artifacts = None
        changes: list[QualityChange] = []
        if self.detector is not None or self.quality is not None:
            raw = self._raw.since(first)[0][: self.n_window]
            if self.detector is not None:
                artifacts = self.detector.check(raw[:, self._judged])
            if self.quality is not None:
                changes = self.quality.update(raw[:, self._eeg], t)
        return FeatureFrame(t, end, values, artifacts, changes)

    def _repair(self, piece: np.ndarray) -> np.ndarray:
        """Replace non-finite samples by the channel's last finite value."""
        bad = ~np.isfinite(piece)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            self._last_bad = self._buffer.n_written + int(rows[-1])
            piece = piece.copy()
            for i in range(len(piece)):  # rare path: only chunks with dropouts
                piece[i] = np.where(bad[i], self._last_finite, piece[i])
                self._last_finite = piece[i]
        elif len(piece):
            self._last_finite = piece[-1].copy()
        return piece

    def compute(self, window: np.ndarray) -> dict[str, float]:
        """Feature values of one filtered window of shape (n_window, n_used_channels)."""
        power = self._bp.compute(window)  # (n_bands, n_channels)
        out: dict[str, float] = {}
        for name, band, total, chans in self._specs:
            if total is None:
                out[name] = float(power[band, chans].mean())
            else:
                out[name] = float(relative_power(power[band, chans], power[total, chans]).mean())
        return out

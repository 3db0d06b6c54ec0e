"""Protocol features from raw EEG: filter, buffer, window, band power.

:class:`FeatureExtractor` is the one object that turns samples into named
feature values; the live engine and offline replay both use it, so the same
samples give the same features whatever the chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..buffer import RingBuffer
from ..protocol.loader import check_against_stream
from ..protocol.schema import Protocol
from .bandpower import BandPower, relative_power
from .filters import CausalFilter, design_preprocessing


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
        One value per protocol feature.
    """

    t: float
    index: int
    values: dict[str, float]


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

    Raises
    ------
    ProtocolError
        When a needed channel is missing or a band is above Nyquist.
    """

    def __init__(self, protocol: Protocol, sfreq: float, ch_names: Sequence[str],
                 stream: str = "stream") -> None:
        check_against_stream(protocol, sfreq, ch_names, stream)
        upper = [c.upper() for c in ch_names]
        used = protocol.channels
        self._pick = np.array([upper.index(c.upper()) for c in used], dtype=int)
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
        self._last_finite = np.zeros(len(used))
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
            piece = np.asarray(data[start:start + self._piece, self._pick], dtype=float)
            piece = self._repair(piece)
            self._buffer.write(self._filter.process(piece), timestamps[start:start + self._piece])
            while self._buffer.n_written >= self._next_end:
                first = self._next_end - self.n_window
                win, ts = self._buffer.since(first)
                if first - self._settle <= self._last_bad:
                    values = dict.fromkeys(self.names, float("nan"))
                else:
                    values = self.compute(win[: self.n_window])
                frames.append(FeatureFrame(float(ts[self.n_window - 1]), self._next_end, values))
                self._next_end += self.n_hop
        return frames

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

"""The processing pipeline shared by the live engine and offline replay.

Samples in, one :class:`Step` per analysis window out: the feature extractor
computes the window's features, artifacts and channel quality; the protocol
engine turns them into scene control and markers. No clock, no sockets: the
live engine feeds it from an LSL inlet and publishes its steps, offline replay
feeds it from a file and writes them into tables, and both get the same
answer from the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .dsp.features import FeatureExtractor, FeatureFrame
from .protocol import Control, LoadedProtocol, Marker, ProtocolEngine


@dataclass
class Step:
    """What one analysis window produced.

    Attributes
    ----------
    frame : FeatureFrame
        The window's features, artifacts and quality changes.
    control : Control or None
        The protocol's output; None while waiting for the start (features are
        computed but the protocol has not begun).
    markers : list of Marker
        Quality changes and protocol events of this window, in time order.
    """

    frame: FeatureFrame
    control: Control | None
    markers: list[Marker] = field(default_factory=list)


class Pipeline:
    """Feature extraction and protocol, window by window.

    Parameters
    ----------
    loaded : LoadedProtocol
        The validated protocol.
    sfreq : float
        Sampling rate of the EEG in Hz.
    ch_names : sequence of str
        Channel labels of the EEG.
    stream_name : str
        Name of the EEG stream, for error messages.
    ch_types : sequence of str, optional
        Type of each channel; only EEG channels are judged for artifacts.
    autostart : bool
        Start the protocol at the first window instead of waiting for
        :meth:`request_start`.
    """

    def __init__(self, loaded: LoadedProtocol, sfreq: float, ch_names: Sequence[str],
                 stream_name: str = "stream", *, ch_types: Sequence[str] | None = None,
                 autostart: bool = False) -> None:
        self.loaded = loaded
        self.extractor = FeatureExtractor(loaded.protocol, sfreq, ch_names, stream_name,
                                          ch_types=ch_types)
        self.protocol = ProtocolEngine(loaded)
        self._start_requested = autostart
        self.last_t: float | None = None
        self.finished = False

    @property
    def started(self) -> bool:
        return self.protocol.t0 is not None

    @property
    def start_requested(self) -> bool:
        return self._start_requested

    def request_start(self) -> None:
        """Start the protocol at the next window.

        Raises
        ------
        RuntimeError
            If the protocol has already started or a start is pending.
        """
        if self.started or self._start_requested:
            raise RuntimeError("the session has already started")
        self._start_requested = True

    def push(self, data: np.ndarray, timestamps: np.ndarray) -> list[Step]:
        """Feed samples (n_samples, n_channels); returns the windows they complete.

        Nothing more is produced once the protocol has finished.
        """
        steps: list[Step] = []
        for frame in self.extractor.push(data, timestamps):
            if self.finished:
                break
            steps.append(self._step(frame))
        return steps

    def _step(self, frame: FeatureFrame) -> Step:
        self.last_t = frame.t
        markers = [Marker(c.t, "quality", {"channel": c.channel, "level": c.level,
                                           "reason": c.reason, "previous": c.previous})
                   for c in frame.quality]
        if not self.started:
            if not self._start_requested:
                return Step(frame, None, markers)
            self.protocol.start(frame.t)
        # Dropouts always hold; which artifact detectors hold is the protocol's
        # artifact policy, applied by the protocol engine.
        ctl = self.protocol.step(frame.values, frame.t, valid=frame.finite,
                                 reason=frame.reason, artifacts=frame.flags,
                                 spectrum=frame.spectrum)
        if self.protocol.iaf != self.extractor.iaf:  # measured in the baseline
            self.extractor.set_iaf(self.protocol.iaf)
        markers += self.protocol.pop_markers()
        self.finished = ctl.end
        return Step(frame, ctl, markers)


__all__ = ["Pipeline", "Step"]

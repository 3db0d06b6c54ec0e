"""The processing pipeline shared by the live engine and offline replay.

Samples in, one :class:`Step` per analysis window out: the feature extractor
computes the window's features, artifacts and channel quality; the protocol
engine turns them into scene control and markers. No clock, no sockets: the
live engine feeds it from an LSL inlet and publishes its steps, offline replay
feeds it from a file and writes them into tables, and both get the same
answer from the same samples.

Therapist's commands (``pause``, ``resume``, ``difficulty``) and held
intervals (a stream that stalled) reach the protocol through the pipeline,
applied before a given window: live, before the next window; in a replay,
before the window at the time recorded in their marker (:meth:`apply_recorded`),
so the replay reproduces the live session's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neuroadapt.dsp.features import FeatureExtractor, FeatureFrame
from neuroadapt.errors import NeuroadaptError
from neuroadapt.protocol import Control, LoadedProtocol, Marker, ProtocolEngine

#: Commands the pipeline applies at a window, each recorded as a marker of that name.
COMMANDS = ("pause", "resume", "difficulty")
#: Reason given to windows held because the EEG stream had stalled.
STALL_REASON = "stream stalled"


class CommandError(NeuroadaptError):
    """A command cannot be applied now (one line saying why)."""


@dataclass(frozen=True)
class HeldInterval:
    """Windows whose time falls in ``(start, end]`` are held (not learned or rewarded)."""

    start: float
    end: float
    reason: str


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

    def __init__(
        self,
        loaded: LoadedProtocol,
        sfreq: float,
        ch_names: Sequence[str],
        stream_name: str = "stream",
        *,
        ch_types: Sequence[str] | None = None,
        autostart: bool = False,
    ) -> None:
        self.loaded = loaded
        self.extractor = FeatureExtractor(
            loaded.protocol, sfreq, ch_names, stream_name, ch_types=ch_types
        )
        self.protocol = ProtocolEngine(loaded)
        self._start_requested = autostart
        self.last_t: float | None = None
        self.finished = False
        self.window = float(loaded.protocol.signal.window)
        # (time or None, name, data): None = at the next window.
        self._pending: list[tuple[float | None, str, dict]] = []
        self._paused_after = False  # the paused state once every pending command applies
        self._held: list[HeldInterval] = []
        self._tol = 0.5 / float(sfreq)  # recorded times match a window to half a sample

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

    # -- commands ------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Whether the protocol is paused (pending commands not counted)."""
        return self.protocol.paused

    def command(self, name: str, **data) -> dict:
        """Queue a command for the next window; returns what it will do.

        Parameters
        ----------
        name : str
            ``"pause"``, ``"resume"`` or ``"difficulty"`` (``value`` in [0, 1]).
        **data
            ``value`` for difficulty; ``source`` (default ``"console"``) is
            recorded in the command's marker.

        Raises
        ------
        CommandError
            The command does not apply now: pause before the start, after the end
            or while paused, resume when not paused, a difficulty out of range or
            a protocol whose thresholds have no bounds.
        """
        data = dict(data)
        data.setdefault("source", "console")
        if name not in COMMANDS:
            raise CommandError(
                f"unknown pipeline command {name!r}; expected one of {', '.join(COMMANDS)}"
            )
        if self.finished:
            raise CommandError("the session has ended")
        if name == "difficulty":
            try:
                data["value"] = self.protocol.check_difficulty(data.get("value"))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        elif not (self.started or self._start_requested):
            raise CommandError(f"cannot {name} before the session has started")
        elif name == "pause" and self._paused_after:
            raise CommandError("the session is already paused")
        elif name == "resume" and not self._paused_after:
            raise CommandError("the session is not paused")
        if name in ("pause", "resume"):
            self._paused_after = name == "pause"
        self._pending.append((None, name, data))
        return data

    def schedule(self, t: float, name: str, **data) -> None:
        """Apply a command before the first window at or after data time ``t`` (replay)."""
        data = dict(data)
        data.setdefault("source", "console")
        self._pending.append((float(t), name, data))
        self._pending.sort(key=lambda p: -np.inf if p[0] is None else p[0])

    def hold_interval(self, start: float, end: float, reason: str = STALL_REASON) -> None:
        """Hold every window whose time is in ``(start, end + window]``.

        Used when a stalled stream returns: the samples that arrive late (a
        backlog) or around a gap are recorded and analysed, but neither
        rewarded nor learned, as the scene was holding meanwhile. The extra
        window length covers windows that mix samples from both sides of a gap.
        """
        self._held.append(HeldInterval(float(start), float(end) + self.window, reason))

    def apply_recorded(self, markers: Sequence[tuple[float, dict]]) -> int:
        """Schedule the commands and held intervals found in a recording's markers.

        Parameters
        ----------
        markers : sequence of (t, dict)
            Every marker of ``neuroadapt-markers`` (time, decoded JSON), in any order.

        Returns
        -------
        n : int
            How many commands and held intervals were scheduled.
        """
        n = 0
        for t, m in markers:
            event = m.get("event")
            if event in COMMANDS:
                extra = {"value": m["value"]} if event == "difficulty" else {}
                self.schedule(t, event, source=m.get("source", "console"), **extra)
                n += 1
            elif event == "stream_resumed" and "gap" in m:
                self.hold_interval(*m["gap"])
                n += 1
        return n

    def _apply_commands(self, t: float) -> list[Marker]:
        due = [p for p in self._pending if p[0] is None or p[0] <= t + self._tol]
        if not due:
            return []
        self._pending = [p for p in self._pending if p not in due]
        for _, name, data in due:
            source = str(data.get("source", "console"))
            try:
                if name == "pause":
                    self.protocol.pause(t, source)
                elif name == "resume":
                    self.protocol.resume(t, source)
                else:
                    self.protocol.set_difficulty(data["value"], t, source)
            except (RuntimeError, ValueError):
                continue  # no longer applies (the session ended meanwhile)
        self._paused_after = self.protocol.paused or any(p[1] == "pause" for p in self._pending)
        return self.protocol.pop_markers()

    def _held_reason(self, t: float) -> str:
        for h in self._held:
            if h.start < t <= h.end:
                return h.reason
        return ""

    # -- samples ---------------------------------------------------------------------------
    def push(self, data: np.ndarray, timestamps: np.ndarray) -> list[Step]:
        """Feed samples (n_samples, n_channels); returns the windows they complete.

        Nothing more is produced once the protocol has finished. While the
        protocol may still set the individual alpha frequency (a baseline that
        measures it), samples go to the extractor one hop at a time, so every
        window after the measurement is computed in the new band, as in the live
        engine, however large the chunk (offline replay pushes many seconds).
        """
        steps: list[Step] = []
        start, n = 0, len(data)
        while start < n and not self.finished:
            size = self.extractor.n_hop if self.protocol.iaf_pending else n - start
            for frame in self.extractor.push(
                data[start : start + size], timestamps[start : start + size]
            ):
                if self.finished:
                    break
                steps.append(self._step(frame))
            start += size
        return steps

    def _step(self, frame: FeatureFrame) -> Step:
        self.last_t = frame.t
        markers = [
            Marker(
                c.t,
                "quality",
                {
                    "channel": c.channel,
                    "level": c.level,
                    "reason": c.reason,
                    "previous": c.previous,
                },
            )
            for c in frame.quality
        ]
        if not self.started:
            if not self._start_requested:
                return Step(frame, None, markers)
            self.protocol.start(frame.t)
        markers += self._apply_commands(frame.t)
        # Dropouts and stalls always hold; which artifact detectors hold is the
        # protocol's artifact policy, applied by the protocol engine.
        stalled = self._held_reason(frame.t)
        ctl = self.protocol.step(
            frame.values,
            frame.t,
            valid=frame.finite and not stalled,
            reason=stalled or frame.reason,
            artifacts=frame.flags,
            spectrum=frame.spectrum,
        )
        if self.protocol.iaf != self.extractor.iaf:  # measured in the baseline
            self.extractor.set_iaf(self.protocol.iaf)
        markers += self.protocol.pop_markers()
        self.finished = ctl.end
        return Step(frame, ctl, markers)


__all__ = ["COMMANDS", "STALL_REASON", "CommandError", "HeldInterval", "Pipeline", "Step"]

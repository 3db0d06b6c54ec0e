"""The protocol engine: features in, control out. Pure and deterministic.

``ProtocolEngine.step(features, t)`` is called once per analysis window with
the feature values and the time of the window's newest sample. It runs the
phases on that data clock (so live sessions and offline replays agree bit for
bit), learns the baseline statistics, normalises, maps onto scene parameters
and smooths them. Events worth recording (phase boundaries, calibration
results, holds) are queued as :class:`Marker` objects for the caller to send.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .loader import LoadedProtocol
from .schema import Protocol

# A baseline spread below this fraction of its mean is treated as degenerate
# (e.g. a flat channel); normalising by it would turn noise into huge values.
_MIN_RELATIVE_STD = 1e-6


@dataclass(frozen=True)
class Marker:
    """An event for the ``neuroadapt-markers`` stream.

    Attributes
    ----------
    t : float
        LSL time of the event (data clock).
    event : str
        ``session_start``, ``phase_start``, ``phase_end``, ``calibration``,
        ``hold_start``, ``hold_end``, ``session_end``.
    data : dict
        Event details, JSON-serialisable.
    """

    t: float
    event: str
    data: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The marker string as sent on LSL: a compact JSON object."""
        return json.dumps({"event": self.event, **self.data}, sort_keys=True,
                          separators=(",", ":"))


@dataclass(frozen=True)
class Control:
    """What the scene should show after one analysis window."""

    t: float
    phase: str
    phase_kind: str
    phase_index: int
    phase_elapsed: float
    feedback: bool
    hold: bool
    end: bool
    params: dict[str, float]
    features: dict[str, float]
    normalised: dict[str, float]

    def to_message(self) -> dict:
        """The ``control`` bus payload (envelope fields are added by the bus)."""

        def clean(d: Mapping[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        return {
            "t_sample": self.t,
            "phase": self.phase,
            "phase_kind": self.phase_kind,
            "phase_index": self.phase_index,
            "phase_elapsed": round(self.phase_elapsed, 6),
            "feedback": self.feedback,
            "hold": self.hold,
            "end": self.end,
            "params": clean(self.params),
            "features": clean(self.features),
            "normalised": clean(self.normalised),
        }


class ProtocolEngine:
    """Runs one protocol over a stream of feature values.

    Parameters
    ----------
    loaded : LoadedProtocol
        The validated protocol with output ranges and starting values of the
        mapped scene parameters.
    """

    def __init__(self, loaded: LoadedProtocol) -> None:
        self.protocol: Protocol = loaded.protocol
        self._outputs = dict(loaded.outputs)
        self._initial = dict(loaded.initial)
        self._ends = np.cumsum([p.duration for p in self.protocol.phases]).tolist()
        self._calib_phase = self.protocol.normalisation.from_phase
        self._feature_names = [f.name for f in self.protocol.features]
        self.reset()

    @property
    def param_names(self) -> list[str]:
        """Mapped scene parameters, in mapping order."""
        return [m.parameter for m in self.protocol.mappings]

    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    def reset(self) -> None:
        """Forget everything: back to before ``start``."""
        self.t0: float | None = None
        self.finished = False
        self._phase = -1
        self._t_last: float | None = None
        self._held = False
        self._baseline: dict[str, list[float]] = {n: [] for n in self._feature_names}
        self.calibration: dict[str, tuple[float, float]] = {}
        self._smoothed = {m.parameter: self._initial.get(m.parameter, 0.0)
                          for m in self.protocol.mappings}
        self._markers: list[Marker] = []

    def start(self, t: float) -> None:
        """Begin the first phase at data time ``t``."""
        if self.t0 is not None:
            raise RuntimeError("the protocol has already started")
        self.t0 = float(t)
        self._markers.append(Marker(self.t0, "session_start", {
            "protocol": self.protocol.protocol.name,
            "version": self.protocol.protocol.version,
            "duration": self.protocol.duration,
        }))
        self._enter(0, self.t0)

    def pop_markers(self) -> list[Marker]:
        """Markers produced since the last call, in time order."""
        out, self._markers = self._markers, []
        return out

    # -- phases ------------------------------------------------------------------------
    def _phase_start_time(self, i: int) -> float:
        assert self.t0 is not None
        return self.t0 + (self._ends[i - 1] if i > 0 else 0.0)

    def _enter(self, i: int, t: float) -> None:
        ph = self.protocol.phases[i]
        self._phase = i
        self._markers.append(Marker(t, "phase_start", {
            "phase": ph.name, "kind": ph.kind, "index": i, "duration": ph.duration,
            "feedback": ph.shows_feedback, "instructions": ph.instructions,
        }))

    def _leave(self, t: float) -> None:
        ph = self.protocol.phases[self._phase]
        self._markers.append(Marker(t, "phase_end", {"phase": ph.name, "index": self._phase}))
        if ph.name == self._calib_phase:
            self._calibrate(t)

    def _calibrate(self, t: float) -> None:
        stats: dict[str, dict] = {}
        for name, values in self._baseline.items():
            arr = np.asarray(values, dtype=float)
            n = int(arr.size)
            if n >= 2:
                mean = float(arr.mean())
                std = float(arr.std(ddof=1))
            elif n == 1:
                mean, std = float(arr[0]), 0.0
            else:
                mean, std = 0.0, 0.0
            degenerate = std <= _MIN_RELATIVE_STD * max(abs(mean), 1e-12)
            if degenerate:
                std = max(abs(mean) * 0.1, 1e-12)
            self.calibration[name] = (mean, std)
            stats[name] = {"mean": mean, "std": std, "n": n, "degenerate": degenerate}
        self._markers.append(Marker(t, "calibration", {
            "phase": self._calib_phase, "method": self.protocol.normalisation.method,
            "features": stats,
        }))

    def _advance(self, t: float) -> None:
        """Cross every phase boundary up to time ``t``."""
        assert self.t0 is not None
        while not self.finished and t - self.t0 >= self._ends[self._phase]:
            boundary = self.t0 + self._ends[self._phase]
            self._leave(boundary)
            if self._phase + 1 < len(self.protocol.phases):
                self._enter(self._phase + 1, boundary)
            else:
                self.finished = True
                self._markers.append(Marker(boundary, "session_end", {"reason": "completed"}))

    # -- the step ----------------------------------------------------------------------
    def normalise(self, features: Mapping[str, float]) -> dict[str, float]:
        """Baseline-normalised values (NaN before calibration)."""
        out = {}
        for name in self._feature_names:
            x = float(features.get(name, math.nan))
            if name in self.calibration:
                mean, std = self.calibration[name]
                out[name] = (x - mean) / std
            else:
                out[name] = math.nan
        return out

    def step(self, features: Mapping[str, float], t: float, *, valid: bool = True,
             reason: str = "") -> Control:
        """Advance to data time ``t`` with one window's feature values.

        Parameters
        ----------
        features : mapping of str to float
            Value of every protocol feature for this window (NaN if unknown).
        t : float
            LSL time of the newest sample in the window; must not decrease.
        valid : bool
            False when the window is contaminated or the stream is lost: the
            scene holds and nothing is learned from the window.
        reason : str
            Why the window is not valid, recorded with the ``hold_start`` marker.

        Returns
        -------
        control : Control
        """
        if self.t0 is None:
            raise RuntimeError("call start(t) before step()")
        t = float(t)
        if self._t_last is not None and t < self._t_last:
            raise ValueError(f"time went backwards: {t} < {self._t_last}")
        self._advance(t)
        values = {n: float(features.get(n, math.nan)) for n in self._feature_names}
        usable = valid and all(math.isfinite(v) for v in values.values())
        if usable != (not self._held) and not self.finished:
            self._held = not usable
            data = {"reason": reason or "invalid features"} if self._held else {}
            self._markers.append(Marker(t, "hold_start" if self._held else "hold_end", data))
        ph = self.protocol.phases[self._phase]
        if usable and not self.finished and ph.name == self._calib_phase:
            for n, v in values.items():
                self._baseline[n].append(v)
        norm = self.normalise(values)
        feedback = ph.shows_feedback and not self.finished
        dt = 0.0 if self._t_last is None else t - self._t_last
        self._t_last = t
        if usable and not self.finished:
            self._update_params(norm, feedback, dt)
        return Control(
            t=t, phase=ph.name if not self.finished else "end", phase_kind=ph.kind,
            phase_index=self._phase, phase_elapsed=t - self._phase_start_time(self._phase),
            feedback=feedback, hold=self._held, end=self.finished,
            params=dict(self._smoothed), features=values, normalised=norm,
        )

    def _update_params(self, norm: Mapping[str, float], feedback: bool, dt: float) -> None:
        for m in self.protocol.mappings:
            z = norm.get(m.feature, math.nan)
            if feedback and math.isfinite(z):
                lo, hi = m.input
                u = min(max((z - lo) / (hi - lo), 0.0), 1.0)
                if m.invert:
                    u = 1.0 - u
                out_lo, out_hi = self._outputs[m.parameter]
                target = out_lo + u * (out_hi - out_lo)
            else:
                target = self._initial.get(m.parameter, self._smoothed[m.parameter])
            alpha = 1.0 if m.smoothing == 0 else 1.0 - math.exp(-dt / m.smoothing)
            prev = self._smoothed[m.parameter]
            self._smoothed[m.parameter] = prev + alpha * (target - prev)

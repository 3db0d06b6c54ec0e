"""The protocol engine: features in, control out. Pure and deterministic.

``ProtocolEngine.step(features, t)`` is called once per analysis window with
the feature values and the time of the window's newest sample. It runs the
phases on that data clock (so live sessions and offline replays agree bit for
bit), learns the baseline statistics (and the individual alpha frequency from
baseline spectra), normalises, evaluates the reward rule with its thresholds,
maps features and the reward onto scene parameters and smooths them. A sham
trace, when given, replaces what the scene shows while the live rule is still
computed and recorded. Events worth recording (phase boundaries, calibration
results, holds) are queued as :class:`Marker` objects for the caller to send.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from neuroadapt.messages import Control, Marker
from neuroadapt.protocol.loader import LoadedProtocol
from neuroadapt.protocol.schema import REWARD, Condition, Phase, Protocol
from neuroadapt.protocol.sham import ShamTrace

# A baseline spread below this fraction of its mean is treated as degenerate
# (e.g. a flat channel); normalising by it would turn noise into huge values.
_MIN_RELATIVE_STD = 1e-6


@dataclass(frozen=True)
class PhaseRun:
    """One phase as it runs: a phase of the file, one of its repeats, placed in time.

    Attributes
    ----------
    phase : Phase
        The phase from the protocol file.
    file_index : int
        Its position among the file's ``[[phases]]``.
    repeat : int
        Which repetition (0-based).
    start, end : float
        Offsets from the start of the session in seconds.
    """

    phase: Phase
    file_index: int
    repeat: int
    start: float
    end: float


def expand_schedule(protocol: Protocol) -> list[PhaseRun]:
    """The phases in the order they run: repeats unrolled, groups shuffled.

    Consecutive phases sharing a ``group`` form one pool of blocks (every repeat
    of each) whose order is shuffled with ``random.Random(protocol.seed)``, so
    the same seed gives the same order on every machine.
    """
    rng = random.Random(protocol.seed)
    order: list[tuple[int, int]] = []
    phases = protocol.phases
    i = 0
    while i < len(phases):
        group = phases[i].group
        j = i + 1
        while group is not None and j < len(phases) and phases[j].group == group:
            j += 1
        pool = [(k, r) for k in range(i, j) for r in range(phases[k].repeat)]
        if group is not None:
            rng.shuffle(pool)
        order += pool
        i = j
    runs, t = [], 0.0
    seen = [0] * len(phases)
    for k, _ in order:  # repeats numbered in the order they run
        ph = phases[k]
        runs.append(PhaseRun(ph, k, seen[k], t, t + ph.duration))
        seen[k] += 1
        t += ph.duration
    return runs


class ProtocolEngine:
    """Runs one protocol over a stream of feature values.

    Parameters
    ----------
    loaded : LoadedProtocol
        The validated protocol with output ranges and starting values of the
        mapped scene parameters.
    sham : ShamTrace, optional
        Replayed instead of the live control (defaults to ``loaded.sham``).
    """

    def __init__(self, loaded: LoadedProtocol, sham: ShamTrace | None = None) -> None:
        self.protocol: Protocol = loaded.protocol
        self._outputs = dict(loaded.outputs)
        self._initial = dict(loaded.initial)
        self.schedule = expand_schedule(self.protocol)
        self._ends = [r.end for r in self.schedule]
        self._calib_phase = self.protocol.normalisation.from_phase
        self._feature_names = [f.name for f in self.protocol.features]
        self._conditions: list[Condition] = (
            list(self.protocol.reward.conditions) if self.protocol.reward else []
        )
        self._hold_on = frozenset(self.protocol.artifacts.hold_on)
        # The IAF comes from the first baseline phase that says it calibrates it (an
        # eyes-closed block before the normalisation baseline, so that baseline is
        # measured in the individual band), else from the calibration phase itself.
        iaf_phases = [
            ph.name
            for ph in self.protocol.phases
            if ph.calibrates is not None and "iaf" in ph.calibrates
        ]
        calib = next(ph for ph in self.protocol.phases if ph.name == self._calib_phase)
        self._iaf_phase: str | None = (
            iaf_phases[0] if iaf_phases else self._calib_phase if calib.calibrates is None else None
        )
        self.sham = sham if sham is not None else getattr(loaded, "sham", None)
        if self.protocol.sham is not None and self.sham is None:
            raise ValueError("the protocol asks for sham feedback: pass its ShamTrace")
        self.reset()

    @property
    def param_names(self) -> list[str]:
        """Mapped scene parameters, in mapping order."""
        return [m.parameter for m in self.protocol.mappings]

    @property
    def iaf_pending(self) -> bool:
        """True while the individual alpha frequency the features depend on is unmeasured.

        Until then the IAF may change at any window, and every later window's
        features must be computed after it (see :meth:`Pipeline.push`).
        """
        return bool(self.protocol.uses_iaf) and not self._iaf_done

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
        self._calibrated = False
        self._iaf_done = False
        self._baseline: dict[str, list[float]] = {n: [] for n in self._feature_names}
        self._spectrum_sum: np.ndarray | None = None
        self._spectrum_freqs: np.ndarray | None = None
        self._spectrum_n = 0
        self.iaf = 10.0
        self.calibration: dict[str, tuple[float, float]] = {}
        self._scale: dict[str, tuple[str, np.ndarray | tuple[float, float]]] = {}
        self.thresholds: list[float] = [
            float(c.threshold.value) if c.threshold.kind == "fixed" else math.nan
            for c in self._conditions
        ]
        self._cond_on = [False] * len(self._conditions)
        self.reward = False
        self._reward_since = 0.0
        self._rate_start = 0.0
        self._rate_n = 0
        self._rate_on = 0
        self._smoothed = {
            m.parameter: self._initial.get(m.parameter, 0.0) for m in self.protocol.mappings
        }
        self._markers: list[Marker] = []
        self._shift = 0.0  # seconds the phase clock was paused so far
        self._paused_at: float | None = None
        self._difficulty: float | None = None  # last value set by the therapist
        self._total_n = 0  # usable windows of rewarded phases (for the reward rate)
        self._total_on = 0
        self._hold_reason = ""

    def start(self, t: float) -> None:
        """Begin the first phase at data time ``t``."""
        if self.t0 is not None:
            raise RuntimeError("the protocol has already started")
        self.t0 = float(t)
        data = {
            "protocol": self.protocol.protocol.name,
            "version": self.protocol.protocol.version,
            "duration": self.protocol.duration,
            "order": [
                f"{r.phase.name}#{r.repeat + 1}" if r.phase.repeat > 1 else r.phase.name
                for r in self.schedule
            ],
            "seed": self.protocol.seed,
        }
        if self.sham is not None:
            data["sham"] = True
            data["sham_source"] = self.sham.source
        self._markers.append(Marker(self.t0, "session_start", data))
        self._enter(0, self.t0)

    def pop_markers(self) -> list[Marker]:
        """Markers produced since the last call, in time order."""
        out, self._markers = self._markers, []
        return out

    # -- phases ------------------------------------------------------------------------
    def _phase_start_time(self, i: int) -> float:
        assert self.t0 is not None
        return self.t0 + self._shift + self.schedule[i].start

    def _phase_end_time(self, i: int) -> float:
        assert self.t0 is not None
        return self.t0 + self._shift + self.schedule[i].end

    def _enter(self, i: int, t: float) -> None:
        run = self.schedule[i]
        ph = run.phase
        self._phase = i
        self._cond_on = [False] * len(self._conditions)
        self._rate_start, self._rate_n, self._rate_on = t, 0, 0
        self._markers.append(
            Marker(
                t,
                "phase_start",
                {
                    "phase": ph.name,
                    "kind": ph.kind,
                    "index": i,
                    "duration": ph.duration,
                    "feedback": ph.shows_feedback,
                    "instructions": ph.instructions,
                    "repeat": run.repeat,
                    "rewarded": ph.rewarded and bool(self._conditions),
                },
            )
        )

    def _leave(self, t: float) -> None:
        run = self.schedule[self._phase]
        ph = run.phase
        if self.reward:
            self._end_reward(t)
        self._markers.append(Marker(t, "phase_end", {"phase": ph.name, "index": self._phase}))
        if ph.name == self._iaf_phase and not self._iaf_done and ph.name != self._calib_phase:
            self._markers.append(
                Marker(t, "calibration", {"phase": ph.name, "iaf": self._calibrate_iaf()})
            )
        if ph.name == self._calib_phase and not self._calibrated:
            self._calibrate(t)

    def _calibrate(self, t: float) -> None:
        self._calibrated = True
        method = self.protocol.normalisation.method
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
            entry: dict = {"mean": mean, "std": std, "n": n, "degenerate": degenerate}
            if method == "zscore":
                self._scale[name] = ("zscore", (mean, std))
            elif method == "percentile":
                self._scale[name] = ("percentile", np.sort(arr) if n else np.array([mean]))
            else:
                lo_p, hi_p = self.protocol.normalisation.percentiles
                lo, hi = (
                    (float(np.percentile(arr, lo_p)), float(np.percentile(arr, hi_p)))
                    if n
                    else (0.0, 0.0)
                )
                if hi - lo <= _MIN_RELATIVE_STD * max(abs(lo), 1e-12):
                    hi = lo + max(abs(lo) * 0.1, 1e-12)
                    entry["degenerate"] = True
                self._scale[name] = ("robust_minmax", (lo, hi))
                entry.update(low=lo, high=hi)
            stats[name] = entry
        data: dict = {"phase": self._calib_phase, "method": method, "features": stats}
        if self.protocol.uses_iaf and self._iaf_phase in (self._calib_phase, None):
            data["iaf"] = self._calibrate_iaf()
        thresholds = self._calibrate_thresholds()
        if thresholds:
            data["thresholds"] = thresholds
        self._markers.append(Marker(t, "calibration", data))

    def _calibrate_iaf(self) -> dict:
        from neuroadapt.dsp.measures import DEFAULT_IAF, individual_alpha_frequency

        self._iaf_done = True
        if self._iaf_phase is None:
            return {"frequency": self.iaf, "found": False, "reason": "no phase calibrates it"}
        if self._spectrum_sum is None or self._spectrum_n == 0:
            self.iaf = DEFAULT_IAF
            return {"frequency": self.iaf, "found": False, "reason": "no baseline spectrum"}
        assert self._spectrum_freqs is not None
        res = individual_alpha_frequency(
            self._spectrum_freqs, self._spectrum_sum / self._spectrum_n
        )
        self.iaf = float(res.frequency)
        return {
            "frequency": self.iaf,
            "found": res.found,
            "reason": res.reason,
            "n": self._spectrum_n,
        }

    def _calibrate_thresholds(self) -> list[dict]:
        out = []
        for j, c in enumerate(self._conditions):
            th = c.threshold
            if th.kind == "fixed":
                continue
            if th.kind == "adaptive" and th.value is not None:
                value = float(th.value)
            else:
                raw = np.asarray(self._baseline[c.feature], dtype=float)
                pct = th.percentile if th.percentile is not None else 50.0
                value = float(np.percentile(raw, pct)) if raw.size else math.nan
                if c.scale == "normalised":
                    value = self._normalise_one(c.feature, value)
            if th.bounds is not None and math.isfinite(value):
                value = min(max(value, th.bounds[0]), th.bounds[1])
            if self._difficulty is not None:  # the therapist's choice outlives calibration
                value = self._threshold_at(j, self._difficulty)
            self.thresholds[j] = value
            out.append({"condition": j, "feature": c.feature, "kind": th.kind, "threshold": value})
        return out

    def _advance(self, t: float) -> None:
        """Cross every phase boundary up to time ``t``."""
        assert self.t0 is not None
        while not self.finished and t - self.t0 - self._shift >= self._ends[self._phase]:
            boundary = self.t0 + self._shift + self._ends[self._phase]
            self._leave(boundary)
            if self._phase + 1 < len(self.schedule):
                self._enter(self._phase + 1, boundary)
            else:
                self.finished = True
                self._markers.append(Marker(boundary, "session_end", {"reason": "completed"}))

    # -- normalisation -----------------------------------------------------------------
    def _normalise_one(self, name: str, x: float) -> float:
        scale = self._scale.get(name)
        if scale is None or not math.isfinite(x):
            return math.nan
        kind, params = scale
        if kind == "zscore":
            mean, std = params  # type: ignore[misc]
            return (x - mean) / std
        if kind == "percentile":
            ref = params
            assert isinstance(ref, np.ndarray)
            return float(np.searchsorted(ref, x, side="right")) / ref.size
        lo, hi = params  # type: ignore[misc]
        return (x - lo) / (hi - lo)

    def normalise(self, features: Mapping[str, float]) -> dict[str, float]:
        """Baseline-normalised values (NaN before calibration)."""
        return {
            n: self._normalise_one(n, float(features.get(n, math.nan))) for n in self._feature_names
        }

    # -- the step ----------------------------------------------------------------------
    def step(
        self,
        features: Mapping[str, float],
        t: float,
        *,
        valid: bool = True,
        reason: str = "",
        artifacts: Iterable[str] | None = None,
        spectrum: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Control:
        """Advance to data time ``t`` with one window's feature values.

        Parameters
        ----------
        features : mapping of str to float
            Value of every protocol feature for this window (NaN if unknown).
        t : float
            LSL time of the newest sample in the window; must not decrease.
        valid : bool
            False when the window is unusable whatever the artifact policy
            (e.g. the stream is lost): the scene holds and nothing is learned.
        reason : str
            Why the window is held, recorded with the ``hold_start`` marker.
        artifacts : iterable of str, optional
            Names of the artifact detectors that flagged the window; those in
            the protocol's ``[artifacts] hold_on`` hold feedback.
        spectrum : (freqs, psd), optional
            Arrays of shape (n_freqs,): the window's power spectrum over the
            posterior channels, averaged in the calibration baseline to find
            the individual alpha frequency.

        Returns
        -------
        control : Control
        """
        if self.t0 is None:
            raise RuntimeError("call start(t) before step()")
        t = float(t)
        if self._t_last is not None and t < self._t_last:
            raise ValueError(f"time went backwards: {t} < {self._t_last}")
        if self._paused_at is not None:
            return self._step_paused(features, t)
        self._advance(t)
        values = {n: float(features.get(n, math.nan)) for n in self._feature_names}
        flagged = [a for a in (artifacts or ()) if a in self._hold_on]
        usable = valid and not flagged and all(math.isfinite(v) for v in values.values())
        if usable != (not self._held) and not self.finished:
            self._held = not usable
            why = reason or ("artifact: " + ", ".join(flagged) if flagged else "invalid features")
            self._hold_reason = why if self._held else ""
            data = {"reason": why} if self._held else {}
            self._markers.append(Marker(t, "hold_start" if self._held else "hold_end", data))
        run = self.schedule[self._phase]
        ph = run.phase
        live = not self.finished
        if usable and live and ph.name == self._calib_phase and not self._calibrated:
            for n, v in values.items():
                self._baseline[n].append(v)
        if usable and live and ph.name == self._iaf_phase and not self._iaf_done:
            if spectrum is not None:
                freqs, psd = (np.asarray(a, dtype=float) for a in spectrum)
                if np.isfinite(psd).all():
                    if self._spectrum_sum is None:
                        self._spectrum_freqs, self._spectrum_sum = freqs.copy(), psd.copy()
                    else:
                        self._spectrum_sum = self._spectrum_sum + psd
                    self._spectrum_n += 1
        norm = self.normalise(values)
        feedback = ph.shows_feedback and live
        if live and ph.rewarded and self._conditions:
            self._update_reward(values, norm, usable, t, run)
        shown = self.reward
        sham = self.sham is not None
        if sham:
            row = self.sham.at(t - self.t0 - self._shift)  # type: ignore[union-attr]
            rew = self.sham.reward  # type: ignore[union-attr]
            shown = bool(rew[row] > 0.5) if rew is not None else False
        shown = shown and feedback
        dt = 0.0 if self._t_last is None else t - self._t_last
        self._t_last = t
        if live:
            self._update_params(values, norm, feedback, usable, dt, t)
        return Control(
            t=t,
            phase=ph.name if live else "end",
            phase_kind=ph.kind,
            phase_index=self._phase,
            phase_elapsed=t - self._phase_start_time(self._phase),
            feedback=feedback,
            hold=self._held,
            end=self.finished,
            params=dict(self._smoothed),
            features=values,
            normalised=norm,
            reward=shown,
            reward_rule=self.reward,
            sham=sham,
            repeat=run.repeat,
            hold_reason=self._hold_reason if self._held else "",
        )

    def _step_paused(self, features: Mapping[str, float], t: float) -> Control:
        """A window while paused: shown, held, and neither learned nor rewarded."""
        assert self._paused_at is not None
        values = {n: float(features.get(n, math.nan)) for n in self._feature_names}
        run = self.schedule[self._phase]
        self._t_last = t
        return Control(
            t=t,
            phase=run.phase.name,
            phase_kind=run.phase.kind,
            phase_index=self._phase,
            phase_elapsed=self._paused_at - self._phase_start_time(self._phase),
            feedback=run.phase.shows_feedback,
            hold=True,
            end=False,
            params=dict(self._smoothed),
            features=values,
            normalised=self.normalise(values),
            reward=False,
            reward_rule=False,
            sham=self.sham is not None,
            repeat=run.repeat,
            paused=True,
            hold_reason="paused",
        )

    # -- therapist's commands ----------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused_at is not None

    def pause(self, t: float, source: str = "console") -> None:
        """Pause at data time ``t``: feedback holds and the phase clock stops.

        While paused nothing is calibrated, rewarded or adapted, and the scene
        parameters keep their values; :meth:`resume` moves the end of the
        current phase (and of every later one) by the time paused.

        Raises
        ------
        RuntimeError
            Before :meth:`start`, after the end, or when already paused.
        """
        if self.t0 is None:
            raise RuntimeError("the session has not started")
        if self._paused_at is not None:
            raise RuntimeError("the session is already paused")
        t = float(t)
        self._advance(t)
        if self.finished:
            raise RuntimeError("the session has ended")
        if self.reward:
            self._end_reward(t)
        self._cond_on = [False] * len(self._conditions)
        self._paused_at = t
        self._markers.append(Marker(t, "pause", {"source": source}))

    def resume(self, t: float, source: str = "console") -> None:
        """Resume at data time ``t`` after :meth:`pause`.

        Raises
        ------
        RuntimeError
            When not paused, or ``t`` is before the pause.
        """
        if self._paused_at is None:
            raise RuntimeError("the session is not paused")
        t = float(t)
        if t < self._paused_at:
            raise ValueError(f"time went backwards: {t} < {self._paused_at}")
        paused = t - self._paused_at
        self._shift += paused
        self._rate_start += paused  # adaptation intervals count running time only
        self._paused_at = None
        self._markers.append(Marker(t, "resume", {"source": source, "paused": round(paused, 6)}))

    @property
    def adjustable(self) -> bool:
        """Whether :meth:`set_difficulty` can be used: every condition has ``bounds``."""
        return bool(self._conditions) and all(
            c.threshold.bounds is not None for c in self._conditions
        )

    def check_difficulty(self, value: object) -> float:
        """The difficulty as a float in [0, 1], or a ValueError saying why not.

        Raises
        ------
        ValueError
            ``value`` is not a number in [0, 1], the protocol has no reward, or a
            reward condition's threshold has no ``bounds`` (message names it).
        """
        if not self._conditions:
            raise ValueError("difficulty cannot be adjusted: the protocol has no [reward]")
        for j, c in enumerate(self._conditions):
            if c.threshold.bounds is None:
                raise ValueError(
                    f"difficulty cannot be adjusted: reward condition {j + 1} ({c.feature} "
                    f"{c.direction}) has a threshold without 'bounds' [low, high]"
                )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"difficulty {value!r} is not a number; use 0 (easiest) to 1")
        v = float(value)
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"difficulty {v:g}: use 0 (easiest) to 1 (hardest)")
        return v

    def _threshold_at(self, j: int, value: float) -> float:
        c = self._conditions[j]
        lo, hi = c.threshold.bounds  # type: ignore[misc]
        # Harder is always 1: a higher bar above, a lower one below.
        return lo + value * (hi - lo) if c.direction == "above" else hi - value * (hi - lo)

    def set_difficulty(self, value: float, t: float, source: str = "console") -> None:
        """Set every reward threshold to ``value`` (0 easiest, 1 hardest) of its bounds.

        Adaptive thresholds go on adapting from there. Set before the
        calibration, the value also replaces the calibrated thresholds.

        Raises
        ------
        ValueError
            See :meth:`check_difficulty`.
        """
        v = self.check_difficulty(value)
        self._difficulty = v
        self.thresholds = [self._threshold_at(j, v) for j in range(len(self._conditions))]
        self._markers.append(
            Marker(
                float(t),
                "difficulty",
                {"value": v, "thresholds": list(self.thresholds), "source": source},
            )
        )

    @property
    def difficulty(self) -> float | None:
        """Where the thresholds now stand in their bounds (0 easiest .. 1 hardest), averaged.

        None when not adjustable or a threshold is not known yet (before calibration).
        """
        if not self.adjustable:
            return None
        pos = []
        for j, c in enumerate(self._conditions):
            thr = self.thresholds[j]
            lo, hi = c.threshold.bounds  # type: ignore[misc]
            if not math.isfinite(thr):
                return None
            u = (thr - lo) / (hi - lo) if hi > lo else 1.0
            pos.append(u if c.direction == "above" else 1.0 - u)
        return min(max(sum(pos) / len(pos), 0.0), 1.0)

    @property
    def reward_rate(self) -> float | None:
        """Fraction of usable windows of rewarded phases that were rewarded; None before any."""
        return self._total_on / self._total_n if self._total_n else None

    @property
    def conditions(self) -> list[Condition]:
        """The reward conditions, in file order."""
        return list(self._conditions)

    def progress(self, t: float) -> dict:
        """Where the session stands at data time ``t``: phase, elapsed and remaining time.

        Returns
        -------
        info : dict
            ``phase``, ``phase_kind``, ``phase_index``, ``phase_elapsed``,
            ``phase_remaining`` (s, the phase clock stops while paused),
            ``instructions``, ``paused``; phase ``None`` before the start.
        """
        if self.t0 is None or self._phase < 0:
            return {
                "phase": None,
                "phase_kind": None,
                "phase_index": -1,
                "phase_elapsed": None,
                "phase_remaining": None,
                "instructions": "",
                "paused": False,
            }
        run = self.schedule[self._phase]
        now = self._paused_at if self._paused_at is not None else float(t)
        start, end = self._phase_start_time(self._phase), self._phase_end_time(self._phase)
        return {
            "phase": "end" if self.finished else run.phase.name,
            "phase_kind": run.phase.kind,
            "phase_index": self._phase,
            "phase_elapsed": round(min(max(now - start, 0.0), end - start), 3),
            "phase_remaining": 0.0 if self.finished else round(max(end - now, 0.0), 3),
            "instructions": run.phase.instructions,
            "paused": self.paused,
        }

    # -- reward ------------------------------------------------------------------------
    def _update_reward(
        self,
        values: Mapping[str, float],
        norm: Mapping[str, float],
        usable: bool,
        t: float,
        run: PhaseRun,
    ) -> None:
        rule = self.protocol.reward
        assert rule is not None and self.t0 is not None
        if usable:
            for j, c in enumerate(self._conditions):
                x = norm[c.feature] if c.scale == "normalised" else values[c.feature]
                thr = self.thresholds[j]
                if not (math.isfinite(x) and math.isfinite(thr)):
                    self._cond_on[j] = False
                    continue
                h = c.hysteresis if self._cond_on[j] else 0.0
                self._cond_on[j] = x >= thr - h if c.direction == "above" else x <= thr + h
            want = all(self._cond_on) if rule.combine == "all" else any(self._cond_on)
        else:
            want = False
        if self.reward:
            if not want and t - self._reward_since >= rule.min_dwell:
                self._end_reward(t)
        elif want and (self.t0 + self._shift + run.end) - t >= rule.min_dwell:
            self.reward, self._reward_since = True, t
            self._markers.append(Marker(t, "reward_start", self._reward_data(run)))
        if usable:
            self._rate_n += 1
            self._rate_on += int(self.reward)
            self._total_n += 1
            self._total_on += int(self.reward)
            self._adapt(t)

    def _reward_data(self, run: PhaseRun) -> dict:
        data = {"phase": run.phase.name, "feedback": run.phase.shows_feedback}
        if self.sham is not None:
            data["sham"] = True
        return data

    def _end_reward(self, t: float) -> None:
        run = self.schedule[self._phase]
        self.reward = False
        data = self._reward_data(run)
        data["duration"] = round(t - self._reward_since, 6)
        self._markers.append(Marker(t, "reward_end", data))

    def _adapt(self, t: float) -> None:
        adaptive = [j for j, c in enumerate(self._conditions) if c.threshold.kind == "adaptive"]
        if not adaptive:
            return
        interval = min(self._conditions[j].threshold.interval for j in adaptive)
        if t - self._rate_start < interval or self._rate_n == 0:
            return
        rate = self._rate_on / self._rate_n
        for j in adaptive:
            c = self._conditions[j]
            th = c.threshold
            if not math.isfinite(self.thresholds[j]):
                continue
            delta = th.step * (rate - th.target_rate)
            new = self.thresholds[j] + (delta if c.direction == "above" else -delta)
            lo, hi = th.bounds  # type: ignore[misc]
            self.thresholds[j] = min(max(new, lo), hi)
            self._markers.append(
                Marker(
                    t,
                    "threshold",
                    {
                        "condition": j,
                        "feature": c.feature,
                        "threshold": self.thresholds[j],
                        "rate": round(rate, 6),
                        "target": th.target_rate,
                        "n": self._rate_n,
                    },
                )
            )
        self._rate_start, self._rate_n, self._rate_on = t, 0, 0

    # -- mappings ----------------------------------------------------------------------
    def _position(self, m, x: float) -> float:
        lo, hi = m.input_range
        if m.curve == "step":
            u = 1.0 if x >= (lo + hi) / 2 else 0.0
        elif m.curve == "sigmoid":
            k, c = 8.0 / (hi - lo), (lo + hi) / 2

            def s(v: float) -> float:
                return 1.0 / (1.0 + math.exp(-k * (v - c)))

            z = min(max(x, lo - (hi - lo)), hi + (hi - lo))  # keeps exp() in range
            u = (s(z) - s(lo)) / (s(hi) - s(lo))
        else:
            u = (x - lo) / (hi - lo)
        u = min(max(u, 0.0), 1.0)
        return 1.0 - u if m.invert else u

    def _update_params(
        self,
        values: Mapping[str, float],
        norm: Mapping[str, float],
        feedback: bool,
        usable: bool,
        dt: float,
        t: float,
    ) -> None:
        if not usable and self.protocol.artifacts.while_held == "hold":
            return
        row = (
            self.sham.at(t - self.t0 - self._shift)  # type: ignore[operator]
            if self.sham is not None
            else -1
        )
        for m in self.protocol.mappings:
            target = self._initial.get(m.parameter, self._smoothed[m.parameter])
            if feedback and usable:
                if self.sham is not None:
                    trace = self.sham.params.get(m.parameter)
                    if trace is not None:
                        self._smoothed[m.parameter] = float(trace[row])
                        continue
                if m.feature == REWARD:
                    x = 1.0 if self.reward else 0.0
                else:
                    x = norm[m.feature] if m.scale == "normalised" else values[m.feature]
                if math.isfinite(x):
                    out_lo, out_hi = self._outputs[m.parameter]
                    target = out_lo + self._position(m, x) * (out_hi - out_lo)
            alpha = 1.0 if m.smoothing == 0 else 1.0 - math.exp(-dt / m.smoothing)
            prev = self._smoothed[m.parameter]
            self._smoothed[m.parameter] = prev + alpha * (target - prev)

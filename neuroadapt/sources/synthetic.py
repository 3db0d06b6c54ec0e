"""Seeded synthetic EEG headset: plausible signals with known, scripted band power.

The headset is pure (no clock, no I/O): :meth:`SyntheticHeadset.generate` returns
the next ``n`` samples of one deterministic signal, whatever the chunking. It
drives the live simulator (:mod:`neuroadapt.sources.simulate`), the demo and the
tests, where a protocol must react to an alpha change we put there on purpose.

Signal model, per EEG channel, in µV::

    x(t) = background(t)                       1/f noise, 10-20 µV RMS
         + sum over alpha, theta, beta of
               w_band(ch) * A_band * script_band(t) * m_band(t)
               * sin(2 pi f_band t + theta_band(t) + phi_band(ch))
         + line noise                          a few µV at 50 or 60 Hz
         + blinks                              frontal channels only

``w_band(ch)`` is a spatial weight from the channel's 10-20 position (alpha is
occipital, theta frontal-midline, beta central), ``script_band`` the amplitude
multiplier of an :class:`AmplitudeScript`, ``m_band`` a slow log-normal
amplitude modulation (waxing and waning, mean 1), ``theta_band`` a slowly
drifting phase. Channel names outside the 10-20 system get the background and
line noise only.
"""

from __future__ import annotations

import math
import operator
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter

from neuroadapt.errors import ConfigError
from neuroadapt.sources.base import Source

__all__ = [
    "BANDS",
    "COUNTER_CHANNEL",
    "DEFAULT_CH_NAMES",
    "PRESETS",
    "AmplitudeScript",
    "ScriptStep",
    "SyntheticHeadset",
    "SyntheticSource",
]

BANDS = ("alpha", "theta", "beta")
DEFAULT_CH_NAMES = ("Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2")
COUNTER_CHANNEL = "counter"
PRESETS = ("alpha-steps", "steady")

# Below this rate the 20 Hz beta oscillator and its drift come too close to Nyquist.
MIN_SFREQ = 64.0

# Centre frequency (Hz) and the half-width of the seeded per-headset offset, so two
# seeds have slightly different individual alpha frequencies, as two people do.
_BAND_FREQ = {"alpha": (10.0, 0.6), "theta": (6.0, 0.3), "beta": (20.0, 1.0)}
# Peak amplitude (µV) of each oscillator on a channel of spatial weight 1, script level 1.
_BAND_AMP = {"alpha": 8.0, "theta": 5.0, "beta": 3.0}
# Standard deviation (Hz) of the slow wander of the instantaneous frequency.
_BAND_FREQ_SD = {"alpha": 0.25, "theta": 0.2, "beta": 0.6}
# Corner frequencies (Hz) of the slow processes behind frequency wander and amplitude modulation.
_FREQ_WANDER_HZ = 0.1
_AMP_MOD_HZ = 0.5
# Log-standard deviation of the amplitude modulation: bursts of roughly +-30 %.
_AMP_MOD_SD = 0.3
# Share of the background variance common to all channels (volume conduction).
_COMMON_SHARE = 0.3
_PINK_RMS = (10.0, 20.0)
_LINE_AMP = (1.5, 4.0)
# Blinks: peak at Fp1/Fp2 in µV, duration in s, mean interval and refractory gap in s.
_BLINK_AMP = (120.0, 180.0)
_BLINK_DUR = (0.25, 0.40)
_BLINK_MEAN_INTERVAL = 4.0
_BLINK_REFRACTORY = 0.5
_BLINK_RISE = 0.4  # fraction of the blink spent rising: the lid closes faster than it opens

# Paul Kellet's 3-pole 1/f ("pink") filter; its slope holds from about 1e-3 of the
# sampling rate up to Nyquist, which covers the EEG bands at any headset rate.
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])

# Spatial weights by 10-20 region: alpha, theta, beta, blink.
_REGION_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "FP": (0.10, 0.50, 0.30, 1.00),
    "AF": (0.10, 0.60, 0.35, 0.90),
    "F": (0.15, 0.80, 0.45, 0.80),
    "FC": (0.20, 0.60, 0.70, 0.40),
    "FT": (0.15, 0.40, 0.40, 0.30),
    "C": (0.30, 0.45, 1.00, 0.00),
    "T": (0.25, 0.30, 0.40, 0.00),
    "CP": (0.45, 0.35, 0.70, 0.00),
    "TP": (0.35, 0.25, 0.30, 0.00),
    "P": (0.70, 0.30, 0.45, 0.00),
    "PO": (0.85, 0.20, 0.30, 0.00),
    "O": (1.00, 0.15, 0.20, 0.00),
    "I": (0.80, 0.10, 0.15, 0.00),
}
# Frontal-midline theta: Fz is the theta channel par excellence.
_MIDLINE_THETA_BOOST = 1.25
# Lateral sites (F7/F8, P7/P8, ...) sit farther from every generator.
_LATERAL_DAMPING = 0.7
# The old 10-20 temporal names, mapped to their 10-10 equivalents.
_OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_POSITION = re.compile(r"^(FP|AF|FC|FT|CP|TP|PO|F|C|T|P|O|I)(Z|\d{1,2})$")


# --------------------------------------------------------------------------- script
@dataclass(frozen=True)
class ScriptStep:
    """One step of an :class:`AmplitudeScript`.

    Parameters
    ----------
    at : float
        Start of the step, in seconds from the start of the signal.
    alpha, theta, beta : float or None
        New amplitude multiplier of the band (1 = the headset's normal level);
        ``None`` keeps the band where it is.
    ramp : float
        Duration in seconds of a linear ramp from the band's level at ``at`` to
        the new level; 0 for a sudden step.
    """

    at: float
    alpha: float | None = None
    theta: float | None = None
    beta: float | None = None
    ramp: float = 0.0


_STEP_KEYS = ("at", *BANDS, "ramp")


class AmplitudeScript:
    """Piecewise amplitude multipliers of the alpha, theta and beta oscillators over time.

    Every band starts at 1. Each step moves the bands it names to a new level,
    at once or along a linear ramp; the others keep their level. A step that
    starts while an earlier ramp of the same band is still running takes over
    from wherever that ramp had got to.

    Parameters
    ----------
    steps : sequence of ScriptStep
        Steps with strictly increasing ``at``.
    source : str
        What the steps came from, used as the prefix of error messages.

    Raises
    ------
    ConfigError
        One line per problem, e.g. ``script.toml: step[2].at: must be increasing``.

    Examples
    --------
    A script file::

        [[step]]
        at = 60.0       # after a one-minute baseline
        alpha = 2.0
        ramp = 5.0      # reach 2x over five seconds
    """

    def __init__(self, steps: Sequence[ScriptStep], *, source: str = "script") -> None:
        problems = _check_steps(steps)
        if problems:
            raise ConfigError([f"{source}: {p}" for p in problems])
        self.steps: tuple[ScriptStep, ...] = tuple(steps)
        self._tracks = {band: _Track.build(self.steps, band) for band in BANDS}

    def __repr__(self) -> str:
        return f"AmplitudeScript({len(self.steps)} steps)"

    def at(self, t: np.ndarray | float) -> dict[str, np.ndarray]:
        """Amplitude multiplier of each band at the given times.

        Parameters
        ----------
        t : array of shape (n,) or float
            Times in seconds from the start of the signal.

        Returns
        -------
        levels : dict of str to array of shape (n,)
            ``{"alpha": ..., "theta": ..., "beta": ...}``, float64, same shape as ``t``.
        """
        t_arr = np.asarray(t, dtype=np.float64)
        return {band: track(t_arr) for band, track in self._tracks.items()}

    @classmethod
    def preset(cls, name: str, duration: float = 300.0) -> AmplitudeScript:
        """A shipped script shaped to a session of ``duration`` seconds.

        Parameters
        ----------
        name : {"alpha-steps", "steady"}
            ``"alpha-steps"``: alpha steady for the first 40 % of the duration
            (a baseline to calibrate on), then rising in 4 equal steps of +0.5
            (each with a short ramp) to 3x, the last reached at 90 %; theta and
            beta stay at 1. ``"steady"``: every band at 1 throughout.
        duration : float
            Session length in seconds the shape is laid out on; after it the
            last level holds.

        Raises
        ------
        ConfigError
            Unknown preset name or a duration that is not positive.
        """
        if name not in PRESETS:
            raise ConfigError(
                f"unknown script preset {name!r} (expected one of {', '.join(PRESETS)})"
            )
        if not _is_number(duration) or not math.isfinite(duration) or duration <= 0:
            raise ConfigError(
                f"preset {name!r}: duration must be a positive number, got {duration!r}"
            )
        if name == "steady":
            return cls([ScriptStep(at=0.0, alpha=1.0, theta=1.0, beta=1.0)], source=name)
        first, last = 0.4 * duration, 0.9 * duration
        ramp = min(2.0, 0.02 * duration)  # gentle enough for the scene, short against a step
        # Step k starts at first + k * spacing; the last ramp ends exactly at `last`.
        spacing = (last - ramp - first) / 3
        steps = [
            ScriptStep(at=first + k * spacing, alpha=1.5 + 0.5 * k, ramp=ramp) for k in range(4)
        ]
        return cls(steps, source=name)

    @classmethod
    def from_toml(cls, path: str | Path) -> AmplitudeScript:
        """Load a script from a TOML file of ``[[step]]`` tables.

        Raises
        ------
        ConfigError
            With one line per problem, each prefixed by the path, e.g.
            ``script.toml: step[1]: unknown key 'alpah' (expected at, alpha, theta, beta, ramp)``.
        """
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{source}: cannot read the script: {reason}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "script") -> AmplitudeScript:
        """Build a script from parsed TOML (``{"step": [{...}, ...]}``), checking every field.

        Raises
        ------
        ConfigError
            Every problem found, one line each, prefixed by ``source``.
        """
        problems: list[str] = []
        for key in data:
            if key != "step":
                problems.append(f"unknown key {key!r} (expected step)")
        raw = data.get("step")
        steps: list[ScriptStep] = []
        if raw is None:
            problems.append("step: at least one [[step]] table is required")
        elif not isinstance(raw, list):
            problems.append("step: must be an array of tables ([[step]])")
        else:
            for i, item in enumerate(raw):
                step = _parse_step(item, f"step[{i}]", problems)
                if step is not None:
                    steps.append(step)
        if not problems:
            problems.extend(_check_steps(steps))
        if problems:
            raise ConfigError([f"{source}: {p}" for p in problems])
        return cls(steps, source=source)


def _parse_step(item: object, where: str, problems: list[str]) -> ScriptStep | None:
    """Type-check one ``[[step]]`` table, appending problems; None when unusable."""
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a table")
        return None
    n_before = len(problems)
    for key in item:
        if key not in _STEP_KEYS:
            problems.append(f"{where}: unknown key {key!r} (expected {', '.join(_STEP_KEYS)})")
    values: dict[str, float] = {}
    for key in _STEP_KEYS:
        if key not in item:
            continue
        value = item[key]
        if not _is_number(value):
            problems.append(f"{where}.{key}: must be a number, got {type(value).__name__}")
        else:
            values[key] = float(value)
    if "at" not in item:
        problems.append(f"{where}.at: required")
    elif not any(band in item for band in BANDS):
        problems.append(f"{where}: sets none of {', '.join(BANDS)}")
    if len(problems) > n_before:
        return None
    return ScriptStep(**values)


def _check_steps(steps: Sequence[ScriptStep]) -> list[str]:
    """Range and order problems of already typed steps."""
    problems: list[str] = []
    if not steps:
        problems.append("step: at least one step is required")
    previous_at: float | None = None
    for i, step in enumerate(steps):
        where = f"step[{i}]"
        for key in _STEP_KEYS:
            value = getattr(step, key)
            if value is None:
                continue
            if not math.isfinite(value):
                problems.append(f"{where}.{key}: must be finite, got {value}")
            elif value < 0:
                problems.append(f"{where}.{key}: must be >= 0, got {value:g}")
        if previous_at is not None and step.at <= previous_at:
            problems.append(
                f"{where}.at: must be increasing (got {step.at:g} after {previous_at:g})"
            )
        previous_at = step.at
    return problems


def _is_number(value: object) -> bool:
    # TOML booleans are Python bools, which are ints; a multiplier of `true` is a typo.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False)
class _Track:
    """The level of one band over time: segments that each ramp ``start -> end``."""

    at: np.ndarray  # (k,) segment start times, increasing
    ramp: np.ndarray  # (k,) ramp durations, >= 0
    start: np.ndarray  # (k,) level at the segment start
    end: np.ndarray  # (k,) level reached after the ramp

    @classmethod
    def build(cls, steps: Sequence[ScriptStep], band: str) -> _Track:
        at: list[float] = []
        ramp: list[float] = []
        start: list[float] = []
        end: list[float] = []
        for step in steps:
            level = getattr(step, band)
            if level is None:
                continue
            # Where the band is when this step begins, even in the middle of a ramp.
            here = cls(np.array(at), np.array(ramp), np.array(start), np.array(end))
            at.append(step.at)
            ramp.append(step.ramp)
            start.append(float(here(np.array([step.at]))[0]))
            end.append(level)
        return cls(np.array(at), np.array(ramp), np.array(start), np.array(end))

    def __call__(self, t: np.ndarray) -> np.ndarray:
        levels = np.ones(t.shape)
        if self.at.size == 0:
            return levels
        k = np.searchsorted(self.at, t, side="right") - 1
        active = k >= 0
        k = k[active]
        elapsed = t[active] - self.at[k]
        ramp = self.ramp[k]
        frac = np.ones(k.shape)
        ramping = ramp > 0
        frac[ramping] = np.minimum(elapsed[ramping] / ramp[ramping], 1.0)
        levels[active] = self.start[k] + (self.end[k] - self.start[k]) * frac
        return levels


# --------------------------------------------------------------------------- headset
class SyntheticHeadset:
    """Deterministic synthetic EEG with scripted alpha, theta and beta amplitudes.

    Parameters
    ----------
    ch_names : sequence of str
        EEG channel labels; 10-20/10-10 names (case-insensitive, old T3-T6
        accepted) get rhythms and, when frontal, blinks; other names get
        background and line noise only.
    sfreq : float
        Sampling rate in Hz, at least 64.
    seed : int
        Seed of every random choice: per-channel levels, individual band
        frequencies, noise, blink times. Same seed, same signal.
    script : AmplitudeScript or None
        Band amplitude multipliers over time; None keeps every band at 1.
    line_freq : float or None
        Mains frequency in Hz (50 in Europe, 60 in the Americas); None or 0 for none.
    blinks : bool
        Add eye blinks (Poisson, about one every 4 s) on frontal channels.
    counter : bool
        Append a last channel ``"counter"`` holding the absolute sample index
        (0, 1, 2, ...). Streamed as float32 it stays exact up to 2**24 samples
        (18.6 hours at 250 Hz); beyond that consecutive values can no longer be
        told apart, so integrity checks must stay shorter.

    Attributes
    ----------
    ch_names : list of str
        All channel labels, the counter last when present.
    eeg_names : list of str
        The EEG channels only.
    n_generated : int
        Number of samples generated so far (the absolute index of the next one).

    Notes
    -----
    Chunk invariance: ``generate(a)`` then ``generate(b)`` returns exactly
    (bit for bit) the rows of ``generate(a + b)``. Every stateful part (filters,
    random stream, blink schedule) carries its state across calls, and every
    other part is an elementwise function of the absolute sample index.
    """

    def __init__(
        self,
        ch_names: Sequence[str] = DEFAULT_CH_NAMES,
        sfreq: float = 250.0,
        seed: int = 0,
        script: AmplitudeScript | None = None,
        line_freq: float | None = 50.0,
        blinks: bool = True,
        counter: bool = False,
    ) -> None:
        names = _check_ch_names(ch_names, counter)
        if not _is_number(sfreq) or not math.isfinite(sfreq) or sfreq < MIN_SFREQ:
            raise ConfigError(f"sfreq: must be a number >= {MIN_SFREQ:g} Hz, got {sfreq!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {seed!r}")
        if line_freq is not None and line_freq != 0:
            if not _is_number(line_freq) or not 0 < line_freq < sfreq / 2:
                raise ConfigError(
                    f"line_freq: must be 0 (none) or between 0 and Nyquist "
                    f"({sfreq / 2:g} Hz), got {line_freq!r}"
                )
        if script is not None and not isinstance(script, AmplitudeScript):
            raise ConfigError(f"script: must be an AmplitudeScript, got {type(script).__name__}")

        self.eeg_names: list[str] = names
        self.ch_names: list[str] = names + ([COUNTER_CHANNEL] if counter else [])
        self.sfreq = float(sfreq)
        self.seed = int(seed)
        self.script = script if script is not None else AmplitudeScript.preset("steady")
        self.line_freq = float(line_freq) if line_freq else None
        self.blinks = bool(blinks)
        self.counter = bool(counter)
        self.n_generated = 0
        self._setup()

    @property
    def n_channels(self) -> int:
        """Number of channels generated, the counter included."""
        return len(self.ch_names)

    def __repr__(self) -> str:
        return (
            f"SyntheticHeadset({len(self.eeg_names)} ch @ {self.sfreq:g} Hz, seed={self.seed}, "
            f"line_freq={self.line_freq}, blinks={self.blinks}, counter={self.counter})"
        )

    def _setup(self) -> None:
        n_eeg = len(self.eeg_names)
        # Independent streams, so that e.g. turning blinks off leaves the rest unchanged.
        noise_seq, blink_seq, param_seq = np.random.SeedSequence(self.seed).spawn(3)
        self._rng = np.random.default_rng(noise_seq)
        self._blink_rng = np.random.default_rng(blink_seq)
        params = np.random.default_rng(param_seq)

        # Background: unit-variance pink noise per channel plus one common component.
        impulse = np.zeros(int(20 * self.sfreq) + 50_000)
        impulse[0] = 1.0
        self._pink_gain = 1.0 / math.sqrt(float(np.sum(lfilter(_PINK_B, _PINK_A, impulse) ** 2)))
        # Start the filters in their stationary regime: without this warm-up the first
        # seconds would carry far less low-frequency power than the rest.
        warm = params.standard_normal((int(20 * self.sfreq), n_eeg + 1))
        _, self._zi_pink = lfilter(
            _PINK_B, _PINK_A, warm, axis=0, zi=np.zeros((len(_PINK_A) - 1, n_eeg + 1))
        )
        rms = params.uniform(*_PINK_RMS, n_eeg)
        self._own = rms * math.sqrt(1.0 - _COMMON_SHARE)
        self._common = rms * math.sqrt(_COMMON_SHARE)

        # Oscillators.
        weights = np.array([_spatial_weights(name) for name in self.eeg_names]).reshape(n_eeg, 4)
        freqs = np.array(
            [centre + params.uniform(-half, half) for centre, half in _BAND_FREQ.values()]
        )
        self.band_freqs: dict[str, float] = dict(zip(BANDS, freqs.tolist(), strict=True))
        self._omega = 2.0 * np.pi * freqs / self.sfreq  # rad per sample
        self._band_amp = weights[:, :3] * np.array([_BAND_AMP[b] for b in BANDS])  # (n_eeg, 3)
        self._band_phase = params.uniform(-0.25, 0.25, (n_eeg, 3))  # small lags between sites
        self._freq_sd = np.array([_BAND_FREQ_SD[b] for b in BANDS])
        self._a_freq = math.exp(-2.0 * math.pi * _FREQ_WANDER_HZ / self.sfreq)
        self._a_amp = math.exp(-2.0 * math.pi * _AMP_MOD_HZ / self.sfreq)
        # Stationary starting states of the slow processes; lfilter's zi of a one-pole
        # filter y[n] = a y[n-1] + b x[n] is a * y[-1].
        self._zi_freq = self._a_freq * params.standard_normal((1, 3))
        self._zi_amp = self._a_amp * params.standard_normal((1, 3))
        self._zi_phase = params.uniform(0.0, 2.0 * np.pi, (1, 3))

        # Line noise, nearly in phase on every lead since it couples in through the mains.
        self._line_amp = params.uniform(*_LINE_AMP, n_eeg)
        self._line_phase = params.uniform(0, 2 * np.pi) + params.uniform(-0.2, 0.2, n_eeg)
        self._line_omega = 2.0 * np.pi * (self.line_freq or 0.0) / self.sfreq

        # Blinks: the schedule is drawn lazily, one blink at a time, from its own stream.
        self._blink_weight = weights[:, 3]
        self._blink_time = self._blink_gap()
        self._blink_pending: list[tuple[int, int, float]] = []  # (onset, length, peak µV)

    def _blink_gap(self) -> float:
        """Seconds to the next blink: a refractory gap plus an exponential wait."""
        mean_wait = _BLINK_MEAN_INTERVAL - _BLINK_REFRACTORY
        return _BLINK_REFRACTORY + float(self._blink_rng.exponential(mean_wait))

    def generate(self, n: int) -> np.ndarray:
        """Generate the next ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples, ``n >= 0``.

        Returns
        -------
        data : array of shape (n, n_channels), float64
            EEG in µV, the counter channel (if any) last.
        """
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            # Also keeps the filters away from scipy's lfilter on empty input, which
            # returns a corrupted final state.
            return np.empty((0, self.n_channels))
        n_eeg = len(self.eeg_names)
        start = self.n_generated
        index = np.arange(start, start + n, dtype=np.int64)

        # One row of normals per sample, always in the same layout, so the random
        # stream advances identically whatever the chunking.
        noise = self._rng.standard_normal((n, n_eeg + 7))
        pink, self._zi_pink = lfilter(
            _PINK_B, _PINK_A, noise[:, : n_eeg + 1], axis=0, zi=self._zi_pink
        )
        pink *= self._pink_gain
        eeg = pink[:, :n_eeg] * self._own + pink[:, n_eeg:] * self._common

        drift, self._zi_freq = lfilter(
            [math.sqrt(1.0 - self._a_freq**2)],
            [1.0, -self._a_freq],
            noise[:, n_eeg + 1 : n_eeg + 4],
            axis=0,
            zi=self._zi_freq,
        )
        # Integrating the frequency deviation (Hz) gives the phase drift (rad).
        phase, self._zi_phase = lfilter(
            [2.0 * np.pi / self.sfreq],
            [1.0, -1.0],
            drift * self._freq_sd,
            axis=0,
            zi=self._zi_phase,
        )
        modulation, self._zi_amp = lfilter(
            [math.sqrt(1.0 - self._a_amp**2)],
            [1.0, -self._a_amp],
            noise[:, n_eeg + 4 :],
            axis=0,
            zi=self._zi_amp,
        )
        envelope = np.exp(_AMP_MOD_SD * modulation - 0.5 * _AMP_MOD_SD**2)
        levels = self.script.at(index / self.sfreq)
        for k, band in enumerate(BANDS):
            amp = self._band_amp[:, k]
            if not amp.any():
                continue
            arg = (self._omega[k] * index + phase[:, k])[:, None] + self._band_phase[:, k]
            eeg += np.sin(arg) * amp * (levels[band] * envelope[:, k])[:, None]

        if self.line_freq is not None:
            eeg += np.sin(self._line_omega * index[:, None] + self._line_phase) * self._line_amp
        if self.blinks and self._blink_weight.any():
            eeg += self._blink_wave(start, n)[:, None] * self._blink_weight

        self.n_generated += n
        if not self.counter:
            return eeg
        out = np.empty((n, n_eeg + 1))
        out[:, :n_eeg] = eeg
        out[:, n_eeg] = index
        return out

    def _blink_wave(self, start: int, n: int) -> np.ndarray:
        """Blink potential at Fp (µV) for samples ``start .. start + n - 1``, shape (n,)."""
        stop = start + n
        # Draw every blink that begins before the end of this chunk, in time order.
        while (onset := round(self._blink_time * self.sfreq)) < stop:
            peak = float(self._blink_rng.uniform(*_BLINK_AMP))
            length = max(2, round(float(self._blink_rng.uniform(*_BLINK_DUR)) * self.sfreq))
            self._blink_pending.append((onset, length, peak))
            self._blink_time += self._blink_gap()
        wave = np.zeros(n)
        still_pending = []
        for onset, length, peak in self._blink_pending:
            lo, hi = max(onset, start), min(onset + length, stop)
            if hi > lo:
                wave[lo - start : hi - start] += peak * _blink_shape(
                    (np.arange(lo, hi) - onset) / length
                )
            if onset + length > stop:
                still_pending.append((onset, length, peak))
        self._blink_pending = still_pending
        return wave


def _blink_shape(tau: np.ndarray) -> np.ndarray:
    """Blink waveform on ``tau`` in [0, 1): raised-cosine rise to 1, slower fall to 0."""
    rise = 0.5 * (1.0 - np.cos(np.pi * tau / _BLINK_RISE))
    fall = 0.5 * (1.0 + np.cos(np.pi * (tau - _BLINK_RISE) / (1.0 - _BLINK_RISE)))
    return np.where(tau < _BLINK_RISE, rise, fall)


def _check_ch_names(ch_names: Sequence[str], counter: bool) -> list[str]:
    if isinstance(ch_names, str):
        raise ConfigError(f"ch_names: must be a sequence of labels, got the string {ch_names!r}")
    names = list(ch_names)
    problems = []
    if not names:
        problems.append("ch_names: at least one channel is required")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            problems.append(f"ch_names: every label must be a non-empty string, got {name!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1}, key=str)
    if duplicates:
        problems.append(f"ch_names: duplicate labels {', '.join(map(str, duplicates))}")
    if counter and COUNTER_CHANNEL in names:
        problems.append(f"ch_names: {COUNTER_CHANNEL!r} is reserved for the counter channel")
    if problems:
        raise ConfigError(problems)
    return names


def _spatial_weights(name: str) -> tuple[float, float, float, float]:
    """Alpha, theta, beta and blink weights of a channel from its 10-20 label (0 if unknown)."""
    label = name.strip().upper()
    label = _OLD_NAMES.get(label, label)
    match = _POSITION.match(label)
    if match is None:
        return (0.0, 0.0, 0.0, 0.0)
    region, site = match.groups()
    alpha, theta, beta, blink = _REGION_WEIGHTS[region]
    if site == "Z":
        theta = min(1.0, theta * _MIDLINE_THETA_BOOST)
    elif int(site) >= 7:
        alpha, theta, beta = (w * _LATERAL_DAMPING for w in (alpha, theta, beta))
    return (alpha, theta, beta, blink)


# --------------------------------------------------------------------------- source
class SyntheticSource(Source):
    """A :class:`SyntheticHeadset` paced by a clock, behind the :class:`Source` interface.

    Each :meth:`pull` returns the samples that fell due since the previous one:
    sample ``k`` is due at ``t0 + k / sfreq``, ``t0`` being the clock at the
    first pull, and carries that due time as its timestamp. Lets the engine run
    on synthetic EEG without LSL, and tests drive time with a fake clock.

    Parameters
    ----------
    headset : SyntheticHeadset
        The generator; its own sample count is left as the source found it.
    clock : callable returning float, optional
        Seconds; default ``pylsl.local_clock`` so timestamps match LSL streams.
    max_pull_seconds : float
        Most data one pull returns; a caller that paused longer catches up over
        the next pulls instead of getting one huge array.
    """

    def __init__(
        self,
        headset: SyntheticHeadset,
        *,
        clock: Callable[[], float] | None = None,
        max_pull_seconds: float = 10.0,
    ) -> None:
        if clock is None:
            import pylsl  # only here: the headset itself needs no LSL

            clock = pylsl.local_clock
        self.headset = headset
        self.ch_names = list(headset.ch_names)
        self.sfreq = headset.sfreq
        self._clock = clock
        self._max_pull = max(1, round(max_pull_seconds * headset.sfreq))
        self._t0: float | None = None
        self._n_pulled = 0

    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Samples due since the previous call; see :meth:`Source.pull`."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due = math.floor((now - self._t0) * self.sfreq) + 1
        n = min(max(due - self._n_pulled, 0), self._max_pull)
        timestamps = self._t0 + np.arange(self._n_pulled, self._n_pulled + n) / self.sfreq
        self._n_pulled += n
        return self.headset.generate(n), timestamps

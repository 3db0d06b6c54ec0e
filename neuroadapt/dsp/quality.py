"""Per-channel signal quality for the therapist: a traffic light that does not flicker.

:class:`ChannelQuality` is fed the same raw windows as the artifact detector, one
per hop, and keeps one level per channel: ``good``, ``fair`` or ``bad``, with a
reason (``ok``, ``line noise``, ``noisy``, ``flat``, ``railed``). It returns only
the changes, so the console can log them and redraw what changed.

Each window is first classified on its own, per channel (the measures and
thresholds are those of :class:`~neuroadapt.dsp.artifacts.ArtifactDetector`):

========  ============  ====================================================
level     reason        when
========  ============  ====================================================
bad       railed        the detector's ``railed``
bad       flat          the detector's ``flat``
bad       noisy         ``bad_factor`` times the ``amplitude`` or ``emg`` threshold
fair      noisy         the detector's ``emg`` or ``amplitude``
fair      line noise    the detector's ``line_noise``
good      ok            otherwise (a blink is the patient, not the electrode)
========  ============  ====================================================

Hysteresis. A single window says little: a jaw clench or a cable knock lasts a
second, a blink train two. The displayed level therefore moves only on sustained
evidence, quickly towards worse and slowly towards better, so the light neither
flickers nor hides a real problem for long:

- **worse** (e.g. good -> fair, fair -> bad): when at least ``evidence`` (80 %)
  of the windows of the last ``degrade_s`` (2 s) are at that level or worse; the
  worst such level is taken. The reason is the most frequent one among those
  windows (the more serious on a tie);
- **intermittent**: a good channel becomes ``fair`` when at least
  ``intermittent`` (50 %) of the windows of the last ``recover_s`` (5 s) are fair
  or bad, so a channel that fails every other window (a loose electrode
  popping) is not shown as good, while a lone clench or blink train is;
- **better**: when every window of the last ``recover_s`` (5 s) is at that level
  or better; the worst level among them is taken, with its most frequent reason
  (``ok`` for good).

Neither can happen before ``degrade_s`` (or ``recover_s``) of windows have been
seen, so every channel starts ``good``/``ok`` and shows its real state after
2 s. Windows in which a channel has non-finite samples (dropouts) are no
evidence either way for that channel. The level changes only through these
rules; a new reason at the same level is not reported. A gap in the stream longer
than ``recover_s`` starts the evidence afresh (levels are kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuroadapt.dsp.artifacts import (
    DETECTORS,
    ArtifactDetector,
    ArtifactMetrics,
    ArtifactThresholds,
)
from neuroadapt.dsp.checks import positive

__all__ = ["LEVELS", "REASONS", "ChannelQuality", "QualityChange", "QualityLevel"]

#: Levels, from best to worst.
LEVELS: tuple[str, ...] = ("good", "fair", "bad")
#: Reasons, from least to most serious (ties between reasons go to the more serious).
REASONS: tuple[str, ...] = ("ok", "line noise", "noisy", "flat", "railed")

_GOOD, _FAIR, _BAD = 0, 1, 2
_OK, _LINE, _NOISY, _FLAT, _RAILED = range(len(REASONS))
#: Severity of a channel in a window it has no evidence for (non-finite samples).
_NO_EVIDENCE = -1
#: Shared default (the dataclass is frozen, so one instance serves every caller).
_DEFAULT_THRESHOLDS = ArtifactThresholds()
#: Slack (s) on time comparisons, so updates on an exact hop grid count as covering.
_EPS = 1e-6


@dataclass(frozen=True)
class QualityLevel:
    """The displayed quality of one channel.

    Attributes
    ----------
    level : str
        ``"good"``, ``"fair"`` or ``"bad"``.
    reason : str
        ``"ok"``, ``"line noise"``, ``"noisy"``, ``"flat"`` or ``"railed"``.
    """

    level: str
    reason: str


@dataclass(frozen=True)
class QualityChange:
    """A change of one channel's displayed level.

    Attributes
    ----------
    t : float
        Time of the window that made the change (as given to
        :meth:`ChannelQuality.update`).
    channel : str
        Channel label.
    level : str
        The new level.
    reason : str
        The reason for the new level.
    previous : str
        The level before.
    """

    t: float
    channel: str
    level: str
    reason: str
    previous: str


class ChannelQuality:
    """Per-channel traffic light with hysteresis, updated once per window.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz (above 90 Hz).
    ch_names : sequence of str
        Channel labels, in the column order of the windows.
    line_freq : float | None
        Mains frequency in Hz, or None to leave ``line noise`` out.
    thresholds : ArtifactThresholds
        Thresholds shared with the artifact detector.
    frontal : sequence of str | None
        Frontal channels, as for :class:`~neuroadapt.dsp.artifacts.ArtifactDetector`
        (blinks there do not count against the channel).
    bad_factor : float
        A window is ``bad``/``noisy`` when its 1-6 Hz peak-to-peak reaches
        ``bad_factor * amplitude_uv`` or its 25-45 Hz power reaches
        ``bad_factor**2 * emg_power_uv2`` (the same factor in amplitude terms), on
        a channel that is not blinking. Default 3 (900 µV, 95 µV RMS of muscle):
        far beyond anything physiological and several times the largest jaw
        clench measured, a loose electrode or a swinging cable. Both measures
        leave alpha out, so strong alpha never makes a channel bad.
    degrade_s : float
        Seconds of evidence needed to move to a worse level (default 2).
    recover_s : float
        Seconds of evidence needed to move to a better level (default 5).
    evidence : float
        Share of the windows of the last ``degrade_s`` that must be at the worse
        level, in (0, 1] (default 0.8).
    intermittent : float
        Share of the windows of the last ``recover_s`` that must be fair or bad
        for a good channel to become fair, in (0, 1] (default 0.5).

    Raises
    ------
    ValueError
        If a time constant or share is out of range, or for the reasons
        :class:`~neuroadapt.dsp.artifacts.ArtifactDetector` gives.
    """

    def __init__(
        self,
        sfreq: float,
        ch_names: Sequence[str],
        *,
        line_freq: float | None = 50.0,
        thresholds: ArtifactThresholds = _DEFAULT_THRESHOLDS,
        frontal: Sequence[str] | None = None,
        bad_factor: float = 3.0,
        degrade_s: float = 2.0,
        recover_s: float = 5.0,
        evidence: float = 0.8,
        intermittent: float = 0.5,
    ) -> None:
        self._detector = ArtifactDetector(
            sfreq, ch_names, thresholds=thresholds, line_freq=line_freq, frontal=frontal
        )
        factor = positive(bad_factor, "bad_factor")
        if factor < 1:
            raise ValueError(f"bad_factor must be >= 1, got {bad_factor!r}")
        # In amplitude terms for both: power grows as the square of the amplitude.
        self._bad_ptp = factor * thresholds.amplitude_uv
        self._bad_hf = factor**2 * thresholds.emg_power_uv2
        self._degrade_s = positive(degrade_s, "degrade_s")
        self._recover_s = positive(recover_s, "recover_s")
        self._evidence = _share(evidence, "evidence")
        self._intermittent = _share(intermittent, "intermittent")
        self._ch_names = self._detector.ch_names
        self._rows = {name: DETECTORS.index(name) for name in DETECTORS}
        self.reset()

    # ------------------------------------------------------------ properties
    @property
    def ch_names(self) -> tuple[str, ...]:
        """Channel labels, in column order."""
        return self._ch_names

    @property
    def levels(self) -> dict[str, QualityLevel]:
        """The displayed level of every channel, in montage order."""
        return {
            name: QualityLevel(LEVELS[lv], REASONS[rs])
            for name, lv, rs in zip(self._ch_names, self._level, self._reason, strict=True)
        }

    def __repr__(self) -> str:
        counts = {lv: int(np.sum(self._level == i)) for i, lv in enumerate(LEVELS)}
        return f"ChannelQuality({len(self._ch_names)} channels, {counts})"

    # ------------------------------------------------------------ public API
    def reset(self) -> None:
        """Forget all evidence and show every channel ``good``/``ok`` again."""
        n = len(self._ch_names)
        self._level = np.full(n, _GOOD, dtype=np.int8)
        self._reason = np.full(n, _OK, dtype=np.int8)
        # History of the last windows: rows [head, tail) of growing arrays.
        self._times = np.zeros(64)
        self._sev = np.zeros((64, n), dtype=np.int8)
        self._rsn = np.zeros((64, n), dtype=np.int8)
        self._head = self._tail = 0
        self._since: float | None = None
        self._last_t: float | None = None

    def update(self, raw: np.ndarray, t: float) -> list[QualityChange]:
        """Take the next window into account and return the level changes it causes.

        Parameters
        ----------
        raw : array of shape (n_samples, n_channels)
            The newest raw window in µV, as given to
            :meth:`~neuroadapt.dsp.artifacts.ArtifactDetector.check`.
        t : float
            Its time in seconds (e.g. LSL time of its newest sample); not
            decreasing from one call to the next.

        Returns
        -------
        changes : list of QualityChange
            One per channel whose level changed, in montage order; usually empty.

        Raises
        ------
        ValueError
            If ``raw`` has the wrong shape or ``t`` is not finite or goes back in time.
        """
        t = self._check_time(t)
        severity, reason = self.classify(raw)
        return self._advance(severity, reason, t)

    def update_measured(
        self, metrics: ArtifactMetrics, times: Sequence[float]
    ) -> list[list[QualityChange]]:
        """Take several windows into account, in order, from their measures.

        Equal to calling :meth:`update` on each window in turn; the windows are
        classified together, which is faster.

        Parameters
        ----------
        metrics : ArtifactMetrics
            The windows' measures (arrays of shape (n_windows, n_channels)), as
            :meth:`ArtifactDetector.measure_sliding
            <neuroadapt.dsp.artifacts.ArtifactDetector.measure_sliding>` gives.
        times : sequence of float
            Each window's time, as for :meth:`update`.

        Returns
        -------
        changes : list of list of QualityChange
            The changes each window causes.
        """
        if metrics.std.ndim != 2 or metrics.std.shape != (len(times), len(self._ch_names)):
            raise ValueError(
                f"metrics must hold (n_windows, n_channels) = ({len(times)}, "
                f"{len(self._ch_names)}) arrays, got {metrics.std.shape}"
            )
        severity, reason = self._classify(metrics)
        return [
            self._advance(s, r, self._check_time(t))
            for s, r, t in zip(severity, reason, times, strict=True)
        ]

    def classify(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level and reason of each channel in one window, before any hysteresis.

        Parameters
        ----------
        raw : array of shape (n_samples, n_channels)
            One raw window in µV.

        Returns
        -------
        level : array of int, shape (n_channels,)
            Index into :data:`LEVELS`, or -1 for no evidence (non-finite samples).
        reason : array of int, shape (n_channels,)
            Index into :data:`REASONS`.
        """
        metrics = self._detector.measure(np.asarray(raw))
        if metrics.std.ndim != 1:
            raise ValueError(f"raw must be one window (n_samples, n_channels), got {np.shape(raw)}")
        return self._classify(metrics)

    # ------------------------------------------------------------ internals
    def _check_time(self, t: float) -> float:
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t}")
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"t must not decrease: got {t} after {self._last_t}")
        return t

    def _classify(self, metrics: ArtifactMetrics) -> tuple[np.ndarray, np.ndarray]:
        """Level and reason per channel from measures of shape (..., n_channels)."""
        tripped = self._detector.tripped(metrics)
        row = self._rows

        def rows(name: str) -> np.ndarray:
            return tripped[..., row[name], :]

        usable = ~(rows("dropout") | rows("railed") | rows("flat"))
        gross = (
            usable
            & ~rows("blink")
            & ((metrics.ptp_low >= self._bad_ptp) | (metrics.hf_power >= self._bad_hf))
        )
        level = np.full(metrics.std.shape, _GOOD, dtype=np.int8)
        reason = np.full(metrics.std.shape, _OK, dtype=np.int8)
        # Least serious first, so each later rule overrides the earlier ones.
        rules = (
            (rows("line_noise"), _FAIR, _LINE),
            (rows("emg") | rows("amplitude"), _FAIR, _NOISY),
            (gross, _BAD, _NOISY),
            (rows("flat"), _BAD, _FLAT),
            (rows("railed"), _BAD, _RAILED),
        )
        for mask, lv, rs in rules:
            level[mask] = lv
            reason[mask] = rs
        level[rows("dropout")] = _NO_EVIDENCE
        return level, reason

    def _advance(self, severity: np.ndarray, reason: np.ndarray, t: float) -> list[QualityChange]:
        """Add one classified window (time already checked) and apply the hysteresis."""
        if self._last_t is None or t - self._last_t > self._recover_s:
            self._head = self._tail = 0
            self._since = t
        self._last_t = t
        if self._tail == len(self._times):
            self._grow()
        self._times[self._tail] = t
        self._sev[self._tail] = severity
        self._rsn[self._tail] = reason
        self._tail += 1
        keep = max(self._degrade_s, self._recover_s) + _EPS
        while self._head < self._tail and self._times[self._head] < t - keep:
            self._head += 1

        new_level, new_reason = self._decide(t)
        changed = np.flatnonzero(new_level != self._level)
        if not changed.size:
            return []
        changes = [
            QualityChange(
                t,
                self._ch_names[i],
                LEVELS[new_level[i]],
                REASONS[new_reason[i]],
                LEVELS[self._level[i]],
            )
            for i in changed
        ]
        self._reason[changed] = new_reason[changed]
        self._level[changed] = new_level[changed]
        return changes

    def _grow(self) -> None:
        """Make room at the end of the history: drop forgotten rows, enlarge if full."""
        held = self._tail - self._head
        if held * 2 > len(self._times):
            size = 2 * len(self._times)
            times, sev, rsn = (
                np.zeros((size, *a.shape[1:]), dtype=a.dtype)
                for a in (self._times, self._sev, self._rsn)
            )
        else:
            times, sev, rsn = self._times, self._sev, self._rsn
        for new, old in ((times, self._times), (sev, self._sev), (rsn, self._rsn)):
            new[:held] = old[self._head : self._tail]
        self._times, self._sev, self._rsn = times, sev, rsn
        self._head, self._tail = 0, held

    def _decide(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Level and reason per channel after the hysteresis rules, at time ``t``."""
        level, reason = self._level.copy(), self._reason.copy()
        sev_all = self._sev[self._head : self._tail]
        # A good channel with no fair or bad window in the history cannot change: only
        # the others are worked out (the rules act on each channel on its own).
        active = np.flatnonzero((level != _GOOD) | (sev_all.max(axis=0) > _GOOD))
        if not active.size:
            return level, reason
        times = self._times[self._head : self._tail]
        sev = sev_all[:, active]  # (n_hist, n_active)
        rsn = self._rsn[self._head : self._tail, active]
        lvl, rsn_out = level[active], reason[active]
        since = t if self._since is None else self._since
        seen = t - since + _EPS

        worse = np.zeros(lvl.shape, dtype=bool)
        if seen >= self._degrade_s:
            recent = times >= t - self._degrade_s - _EPS
            s, r = sev[recent], rsn[recent]
            valid = s != _NO_EVIDENCE
            n_valid = valid.sum(axis=0)
            # Worst first, so a channel that qualifies for bad does not stop at fair.
            for lv in (_BAD, _FAIR):
                at_least = (s >= lv).sum(axis=0)
                go = (
                    ~worse
                    & (lvl < lv)
                    & (n_valid > 0)
                    & (at_least >= self._evidence * n_valid - _EPS)
                )
                if go.any():
                    lvl[go] = lv
                    rsn_out[go] = _most_frequent(r, s >= lv)[go]
                    worse |= go

        if seen >= self._recover_s:
            recent = times >= t - self._recover_s - _EPS
            s, r = sev[recent], rsn[recent]
            valid = s != _NO_EVIDENCE
            n_valid = valid.sum(axis=0)
            failing = s >= _FAIR
            go = (
                ~worse
                & (lvl == _GOOD)
                & (n_valid > 0)
                & (failing.sum(axis=0) >= self._intermittent * n_valid - _EPS)
            )
            if go.any():
                lvl[go] = _FAIR
                rsn_out[go] = _most_frequent(r, failing)[go]
                worse |= go
            worst = np.where(valid, s, _GOOD).max(axis=0)
            go = ~worse & valid.any(axis=0) & (worst < lvl)
            if go.any():
                lvl[go] = worst[go]
                rsn_out[go] = np.where(worst[go] == _GOOD, _OK, _most_frequent(r, s == worst)[go])
        level[active], reason[active] = lvl, rsn_out
        return level, reason


def _most_frequent(reasons: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per column, the most frequent reason among masked rows; ties go to the more serious."""
    counts = np.stack([((reasons == k) & mask).sum(axis=0) for k in range(len(REASONS))])
    # argmax returns the first maximum; searching from the most serious reason down
    # makes ties go to the more serious one.
    return (len(REASONS) - 1 - np.argmax(counts[::-1], axis=0)).astype(np.int8)


def _share(value: float, name: str) -> float:
    """Return ``value`` as a float after checking ``0 < value <= 1``."""
    value = positive(value, name)
    if value > 1:
        raise ValueError(f"{name} is a share and must be <= 1, got {value}")
    return value

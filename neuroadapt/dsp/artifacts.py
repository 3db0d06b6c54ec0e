"""Window-level artifact detection on raw EEG: blinks, movement, muscle, flat, railed, mains.

The live engine must never reward a contaminated window. :class:`ArtifactDetector`
looks at the same raw window the features come from and says, per detector,
which channels tripped (:class:`WindowArtifacts`); the engine holds feedback
while :attr:`WindowArtifacts.contaminated` is true. Offline replay checks every
window of a recording at once with :meth:`ArtifactDetector.check_many`, which
gives exactly the per-window answers of :meth:`ArtifactDetector.check`.

Each window is processed on its own (no state), cheaply:

1. a quadratic fit is removed from every channel. Real amplifiers deliver DC
   offsets of tens of millivolts that drift by up to a few hundred microvolts
   per second; removing the mean alone leaves that drift in the window, where
   it would swamp any amplitude threshold;
2. one real FFT of the detrended window gives the spectral measures (with a
   Hann taper applied in the frequency domain) and, through the inverse DFT of
   its 1-6 Hz bins, the slow waveform on which blink and movement amplitude are
   measured. Measuring amplitude there keeps mains interference (which can be
   hundreds of microvolts on consumer headsets), muscle activity and alpha
   (not an artifact) out of the amplitude detectors.

The measures, per channel (:class:`ArtifactMetrics`):

- ``ptp_low``: peak-to-peak of the 1-6 Hz waveform (µV), for blinks and movement;
- ``std``: standard deviation of the detrended window (µV), for flat channels;
- ``hf_power``: 25-45 Hz band power (µV²) and ``broad_power``: 1-45 Hz band
  power (µV²), mains bins left out of both, for muscle (EMG);
- ``line_power``: power within 2 Hz of the mains frequency (µV²);
- ``abs_max``: largest raw absolute value (µV) and ``pinned``: share of samples
  sitting exactly on the window's maximum or minimum, for railed or clipped
  channels.

Detectors, in the order they are reported (a channel is reported by the first
of railed, flat that applies, and then by no other detector):

=============  ===========================================================
``dropout``    non-finite samples (NaN or Inf) on the channel
``railed``     ``abs_max >= railed_uv``, or ``pinned >= clip_fraction``
``flat``       ``std < flat_uv``
``blink``      frontal channel with ``ptp_low >= blink_uv`` and at least
               ``blink_dominance`` times the median ``ptp_low`` of the
               non-frontal channels (ocular artifacts: blinks and eye
               movements, largest at the front of the head)
``amplitude``  any channel not flagged as blink with ``ptp_low >= amplitude_uv``
               (movement, electrode pops, cable sway)
``emg``        ``hf_power >= emg_power_uv2`` or
               ``hf_power / broad_power >= emg_ratio`` (muscle: jaw, forehead,
               neck)
``line_noise`` ``line_power / broad_power >= line_ratio``
=============  ===========================================================

``line_noise`` is advisory: the feature path notches the mains frequency, so
it does not make a window :attr:`~WindowArtifacts.contaminated`; it feeds the
per-channel quality display (:mod:`neuroadapt.dsp.quality`) instead. The
default thresholds and why they have their values are in
:class:`ArtifactThresholds` and ``docs/artifacts.md`` (measured on real
recordings).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "DETECTORS",
    "HOLDING",
    "ArtifactDetector",
    "ArtifactMetrics",
    "ArtifactThresholds",
    "WindowArtifacts",
    "is_frontal",
]

#: Detector names, in the order :attr:`WindowArtifacts.flags` lists them.
DETECTORS: tuple[str, ...] = (
    "dropout",
    "railed",
    "flat",
    "blink",
    "amplitude",
    "emg",
    "line_noise",
)
#: Detectors that make a window contaminated (feedback held). ``line_noise`` is
#: left out: the feature path notches the mains, so it does not bias features.
HOLDING: frozenset[str] = frozenset(DETECTORS) - {"line_noise"}

#: Band (Hz) of the slow waveform whose peak-to-peak measures blinks and movement. A
#: blink lasts 200-400 ms, so its energy lies below about 6 Hz; stopping there keeps
#: alpha (8-12 Hz), muscle and mains out. The mask falls to zero over the next
#: ``_LOW_ROLLOFF`` Hz with a half-cosine, which keeps the ringing of the window's
#: edges small.
_LOW_BAND = (1.0, 6.0)
_LOW_ROLLOFF = 2.0
#: Muscle band (Hz): EMG is broadband from about 20 Hz up, brain activity falls off as
#: 1/f, and 25-45 Hz stays clear of beta below and the 50/60 Hz mains above.
_HF_BAND = (25.0, 45.0)
#: Reference band (Hz) for the EMG and mains ratios: the EEG the features use.
_BROAD_BAND = (1.0, 45.0)
#: Half-width (Hz) of the mains band. A Hann taper spreads a pure tone over the bin
#: either side (1 Hz apart for a 1 s window), and the mains itself wanders ~0.1 Hz.
_LINE_HALF_WIDTH = 2.0
#: Degree of the polynomial removed from each window before anything else.
_DETREND_DEGREE = 2
#: Windows must resolve 2 Hz or finer (at least half a second) for the bands above to
#: hold several bins each.
_MIN_DURATION = 0.5
#: Windows whose 1-6 Hz waveform is synthesised at once (keeps it in cache).
_SYNTH_BATCH = 4
#: Most blocks per window for the sliding path (more: each window on its own).
_MAX_BLOCKS = 16
#: Channels per block DFT product: small enough that OpenBLAS computes each in the
#: calling thread (its helper threads would compete with the feature extractor's
#: second thread); the products are the same whatever the grouping.
_DFT_CHANNELS = 32


# ------------------------------------------------------------------ thresholds
@dataclass(frozen=True)
class ArtifactThresholds:
    """Thresholds of the artifact detectors, with defaults measured on real EEG.

    The defaults were chosen on the OpenBCI Cyton recording with annotated
    blinks and jaw clenches, and on the PhysioNet EEGMMIDB eyes-open and
    eyes-closed runs (64 wet electrodes); ``docs/artifacts.md`` has the
    measurements (hit and false-alarm rates) behind each value. All amplitudes
    are in µV of the raw input, powers in µV² (band power, as
    :class:`~neuroadapt.dsp.bandpower.BandPower` gives).

    Attributes
    ----------
    amplitude_uv : float
        Peak-to-peak of the 1-6 Hz waveform above which any channel is flagged
        ``amplitude`` (movement, electrode pops). Default 300 µV: clean EEG in
        that band stays below 70 µV on the consumer headset, but the largest of
        the 47 non-frontal channels of the research cap measures about 130 µV in
        a typical window and up to 260 µV (eyes closed) or 310 µV (eyes open,
        during a movement), while the bites on the consumer headset measured
        530-610 µV away from the forehead.
    blink_uv : float
        Peak-to-peak of the 1-6 Hz waveform above which a frontal channel is
        flagged ``blink`` (when it also dominates the back of the head, see
        ``blink_dominance``). Default 100 µV: blinks measured 120-360 µV on
        Fp1/Fp2 of the consumer headset (190-560 µV peaks on the research cap),
        clean frontal windows at most 70 µV.
    blink_dominance : float
        A frontal channel is only flagged ``blink`` when its ``ptp_low`` is at
        least this many times the median ``ptp_low`` of the non-frontal channels.
        Ocular potentials fall off steeply from the eyes backwards (blinks
        measured 3.3-11 times the posterior median on the consumer headset, 2-7
        on the research cap), while large background EEG and movement are more
        even across the head. Default 2.5: 10 of 11 blinks on the research cap
        and no frontal flag away from them (2.0 catches all 11 but flags 3-5 %
        of other windows). Ignored when the montage has no non-frontal channel.
    emg_power_uv2 : float
        25-45 Hz band power above which a channel is flagged ``emg``. Default
        1000 µV² (32 µV RMS): jaw clenches measured 2300-8500 µV², clean windows
        at most 120 µV² on the consumer headset and 650 µV² on the research cap
        (whose frontal and temporal channels carry some tonic muscle activity). Wet-gel
        laboratory systems, whose clean 25-45 Hz power is a few µV², can use a
        much lower value.
    emg_ratio : float
        Share of the 1-45 Hz power lying in 25-45 Hz above which a channel is
        flagged ``emg`` whatever its absolute level: the spectrum then looks like
        muscle (flat), not brain (falling as 1/f). White noise gives 0.45; clean
        windows measured at most 0.58 (consumer headset) and 0.69 (research cap),
        sustained clenches 0.69-0.78. Default 0.75.
    flat_uv : float
        Standard deviation of the detrended window below which a channel is
        flagged ``flat``. Default 0.5 µV: below the input noise of EEG amplifiers
        (about 1 µV RMS), so a channel this quiet carries no EEG (shorted input,
        disconnected lead, a stream sending zeros); clean channels measured at
        least 5.6 µV.
    railed_uv : float
        Raw absolute value at or above which a channel is flagged ``railed``.
        Default 168750 µV: 90 % of the ±187.5 mV input range of the ADS1299 at
        gain 24 (OpenBCI Cyton), the level the OpenBCI GUI calls railed. Real
        DC offsets of tens of mV stay well below it.
    clip_fraction : float
        Share of a window's samples sitting exactly on its maximum or minimum at
        or above which a channel is flagged ``railed`` (clipped at some other
        amplifier's limit, or stuck at an extreme). Continuous EEG touches its
        extreme once or twice per window (at most 3.9 % of the samples, on a
        14-bit consumer headset). Default 0.05 (12 samples of a 1 s window at
        250 Hz).
    line_ratio : float
        Mains power (within 2 Hz of ``line_freq``) relative to the 1-45 Hz power
        at or above which a channel is flagged ``line_noise``. Default 1.0: the
        mains carries as much power as the whole EEG band, a sign of poor
        electrode contact. The three channels known to carry strong 60 Hz in a
        g.USBamp recording measured 5-65 (median over windows), its other
        channels 0.01-1.1; the OpenBCI sample, with 185 µV RMS of 60 Hz, about 86.
    """

    amplitude_uv: float = 300.0
    blink_uv: float = 100.0
    blink_dominance: float = 2.5
    emg_power_uv2: float = 1000.0
    emg_ratio: float = 0.75
    flat_uv: float = 0.5
    railed_uv: float = 168_750.0
    clip_fraction: float = 0.05
    line_ratio: float = 1.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise TypeError(f"{item.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{item.name} must be a finite number > 0, got {value!r}")
        for name in ("emg_ratio", "clip_fraction"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} is a share and must be <= 1, got {getattr(self, name)!r}")


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class WindowArtifacts:
    """What the detectors found in one window.

    Attributes
    ----------
    flags : dict of str to tuple of str
        Detector name (see :data:`DETECTORS`) to the channels that tripped it,
        in montage order. Only detectors that tripped appear, in
        :data:`DETECTORS` order; a clean window has ``flags == {}``.
    """

    flags: dict[str, tuple[str, ...]]

    @property
    def contaminated(self) -> bool:
        """Whether any detector that biases features tripped (all but ``line_noise``)."""
        return any(name in HOLDING for name in self.flags)

    @property
    def channels(self) -> tuple[str, ...]:
        """Every channel flagged by any detector, each once, in order of first mention."""
        return tuple(dict.fromkeys(ch for chans in self.flags.values() for ch in chans))

    def describe(self) -> str:
        """One line for logs and the therapist, e.g. ``"blink: Fp1, Fp2; emg: T7"``.

        Returns
        -------
        text : str
            Detectors and their channels separated by ``"; "``, or ``"clean"``.
        """
        if not self.flags:
            return "clean"
        return "; ".join(f"{name}: {', '.join(chans)}" for name, chans in self.flags.items())


@dataclass(frozen=True)
class ArtifactMetrics:
    """The per-channel measures the detectors threshold, for one or many windows.

    Every attribute is an array of shape ``(..., n_channels)``, where ``...``
    is empty for one window and ``(n_windows,)`` for many. Channels with
    non-finite samples are measured with those samples set to 0.

    Attributes
    ----------
    ptp_low : array
        Peak-to-peak of the 1-6 Hz waveform, µV.
    std : array
        Standard deviation of the detrended window, µV.
    hf_power : array
        25-45 Hz band power, µV² (mains bins left out).
    broad_power : array
        1-45 Hz band power, µV² (mains bins left out).
    line_power : array
        Power within 2 Hz of the mains frequency, µV² (0 when above Nyquist).
    abs_max : array
        Largest absolute raw value, µV.
    pinned : array
        Share of samples equal to the window's maximum or minimum, 0-1 (0 for
        a constant channel).
    finite : array of bool
        Whether every sample of the channel is finite.
    """

    ptp_low: np.ndarray
    std: np.ndarray
    hf_power: np.ndarray
    broad_power: np.ndarray
    line_power: np.ndarray
    abs_max: np.ndarray
    pinned: np.ndarray
    finite: np.ndarray

    def take(self, columns: np.ndarray | Sequence[int]) -> ArtifactMetrics:
        """The measures of some channels only (indices into the last axis)."""
        return ArtifactMetrics(
            **{f.name: getattr(self, f.name)[..., columns] for f in fields(self)}
        )

    @property
    def emg_ratio(self) -> np.ndarray:
        """``hf_power / broad_power``, 0 where ``broad_power`` is 0."""
        return _ratio(self.hf_power, self.broad_power)

    @property
    def line_ratio(self) -> np.ndarray:
        """``line_power / broad_power``, 0 where ``broad_power`` is 0."""
        return _ratio(self.line_power, self.broad_power)


# ---------------------------------------------------------------- helpers
_FRONTAL_RE = re.compile(r"^(FP|AF|F)(\d+|Z)$")


def is_frontal(name: str) -> bool:
    """Whether a channel label names a frontal 10-20/10-10 site (Fp, AF, F rows).

    Labels are matched case-insensitively after removing an ``EEG`` prefix, a
    reference suffix (``Fp1-REF``, ``Fp1-A1``) and BCI2000's trailing dots
    (``Fp1.``, ``Fz..``). FC and FT sites are not frontal.

    Parameters
    ----------
    name : str
        Channel label.

    Returns
    -------
    frontal : bool
        True for Fp1, Fpz, Fp2, AF3, AFz, F7, F3, Fz, F10 and the like.
    """
    clean = re.sub(r"^EEG\s+", "", str(name).strip(), flags=re.IGNORECASE)
    clean = clean.split("-")[0].strip().rstrip(".").upper()
    return _FRONTAL_RE.match(clean) is not None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0, without warnings."""
    out = np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den)), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class _Plan:
    """Everything that depends on the window length only, computed once per length.

    Only the spectrum's bins ``0..n_bins - 1`` are ever used: the bands end at the
    mains band (or 45 Hz), one bin below the Hann taper's reach.
    """

    basis: np.ndarray  # (n, degree + 1) orthonormal polynomial basis for detrending
    n_bins: int  # bins 0..n_bins-1 of the spectrum are used
    basis_dft: np.ndarray  # (degree + 1, n_bins) complex: DFT of the basis columns
    left: np.ndarray  # (n_band_bins,) index of each band bin's lower neighbour
    right: np.ndarray  # (n_band_bins,) index of its upper neighbour
    left_conj: np.ndarray  # (n_band_bins,) bool: the neighbour is a conjugate mirror
    right_conj: np.ndarray  # (n_band_bins,) bool
    bands: np.ndarray  # (n_band_bins, 3) power-per-bin -> hf, broad, line band power
    bands_pairs: np.ndarray  # (2 * n_band_bins - 2, 3): the same from bin 1, per re/im
    power_scale: float  # |Hann spectrum|^2 -> µV² per bin
    low_bins: np.ndarray  # (n_low,) bins of the 1-6 Hz waveform
    synthesis: np.ndarray  # (2 * n_low, n): [Re, Im] of those bins -> waveform (inverse DFT)


@dataclass(frozen=True)
class _Blocks:
    """Constants of the sliding path: windows of n samples every hop, cut into blocks.

    With ``g = gcd(n, hop)``, a window is ``p = n / g`` blocks and successive windows
    start ``q = hop / g`` blocks apart. One matrix product per block gives its share
    of every DFT bin used (phase-referred to the block's start) and of the detrending
    projections for each position the block takes in a window.
    """

    g: int
    p: int
    q: int
    dft: np.ndarray  # (g, 2 * n_bins + 3 * p): [cos | -sin | basis rows of position j]
    rotation: np.ndarray  # (p, n_bins) complex: phase of block position j at each bin


def _count_beyond(
    blocks: np.ndarray,
    level: np.ndarray,
    p: int,
    q: int,
    *,
    above: bool,
    block_max: np.ndarray,
    block_min: np.ndarray,
) -> np.ndarray:
    """Per (window, channel), the samples at or above ``level`` (or at or below it).

    ``blocks`` is (n_blocks, g, n_ch), with its extremes ``block_max`` and
    ``block_min`` (n_blocks, n_ch); window ``w`` holds blocks ``w * q`` to
    ``w * q + p - 1`` and has its own ``level`` (n_windows, n_ch), near its
    maximum (minimum). A block whose every sample passes the level of every
    window holding it (a constant stretch) counts whole; the others are
    compared once, against the lowest (highest) level of the windows holding
    them; of the samples that pass, those that pass every such window's level
    count for the block, and the few others are counted window by window.
    Exact: only comparisons and counts.
    """
    n_blocks, g, n_ch = blocks.shape
    n_windows = level.shape[0]
    inf = np.inf if above else -np.inf
    bound = np.full((n_blocks, n_ch), inf)  # the level easiest to pass
    hardest = np.full((n_blocks, n_ch), -inf)
    easiest, strictest = (np.minimum, np.maximum) if above else (np.maximum, np.minimum)
    for j in range(p):
        rows = bound[j : j + n_windows * q : q]
        easiest(rows, level, out=rows)
        rows = hardest[j : j + n_windows * q : q]
        strictest(rows, level, out=rows)
    whole = block_min >= hardest if above else block_max <= hardest
    bound[whole] = inf  # counted block by block
    hit = blocks >= bound[:, np.newaxis, :] if above else blocks <= bound[:, np.newaxis, :]
    flat = hit.ravel().nonzero()[0]  # much faster than a 3-d nonzero
    b, c = flat // (g * n_ch), flat % n_ch
    x = blocks[hit]
    # Samples that pass every window's level count for the block (clipped signals
    # have many); the others, at each position j their block takes in a window.
    sure = x >= hardest[b, c] if above else x <= hardest[b, c]
    per_block = np.bincount(b[sure] * n_ch + c[sure], minlength=n_blocks * n_ch)
    per_block = per_block.reshape(n_blocks, n_ch) + g * whole
    b, c, x = b[~sure], c[~sure], x[~sure]
    w, rest = np.divmod(b[:, np.newaxis] - np.arange(p), q)  # (n_unsure, p)
    ok = (rest == 0) & (w >= 0) & (w < n_windows)
    w = w[ok]
    c = np.broadcast_to(c[:, np.newaxis], ok.shape)[ok]
    x = np.broadcast_to(x[:, np.newaxis], ok.shape)[ok]
    keep = x >= level[w, c] if above else x <= level[w, c]
    counts = np.bincount(w[keep] * n_ch + c[keep], minlength=n_windows * n_ch)
    counts = counts.reshape(n_windows, n_ch)
    for j in range(p):
        counts += per_block[j : j + n_windows * q : q]
    return counts


# ---------------------------------------------------------------- detector
class ArtifactDetector:
    """Flags artifacts in raw EEG windows, per detector and channel.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz; above 90 Hz so the 25-45 Hz muscle band
        lies below Nyquist.
    ch_names : sequence of str
        Channel labels, in the column order of the windows.
    thresholds : ArtifactThresholds
        Detector thresholds; see :class:`ArtifactThresholds` for the defaults.
    line_freq : float | None
        Mains frequency in Hz (50 in Europe, 60 in the Americas). Its bins are
        left out of the muscle and reference bands, and measured for
        ``line_noise``; None (or a mains above Nyquist) turns ``line_noise``
        off.
    frontal : sequence of str | None
        Channels on which ocular artifacts are judged (``blink``). Default:
        every channel whose label is a frontal 10-20 site (:func:`is_frontal`).
        Pass ``[]`` to turn ``blink`` off (large ocular artifacts are then
        still caught as ``amplitude``).

    Raises
    ------
    TypeError
        If an argument has the wrong type (``thresholds`` not an
        :class:`ArtifactThresholds`, ``ch_names`` or ``frontal`` a string).
    ValueError
        If ``sfreq`` or ``line_freq`` is out of range, channel names are empty
        or repeated, or a ``frontal`` name is not among ``ch_names``.

    Notes
    -----
    Windows are ``(n_samples, n_channels)`` in µV, raw (no filtering needed,
    DC offset allowed), at least half a second long; the engine's 1 s window
    is what the defaults were measured on. The work per window is a
    quadratic detrend, one real FFT and the inverse DFT of a few bins over all
    channels; plans that depend on the window length are cached. Overlapping
    windows of one stretch share most of that work through
    :meth:`measure_sliding`.
    """

    def __init__(
        self,
        sfreq: float,
        ch_names: Sequence[str],
        *,
        thresholds: ArtifactThresholds = ArtifactThresholds(),
        line_freq: float | None = 50.0,
        frontal: Sequence[str] | None = None,
    ) -> None:
        self._sfreq = _check_sfreq(sfreq)
        self._ch_names = _check_names(ch_names)
        if not isinstance(thresholds, ArtifactThresholds):
            raise TypeError(
                f"thresholds must be an ArtifactThresholds, got {type(thresholds).__name__}"
            )
        self._thresholds = thresholds
        if line_freq is not None:
            try:
                line_freq = float(line_freq)
            except (TypeError, ValueError):
                raise TypeError(f"line_freq must be a number or None, got {line_freq!r}") from None
            if not math.isfinite(line_freq) or line_freq <= 0:
                raise ValueError(f"line_freq must be a finite number > 0 or None, got {line_freq}")
        self._line_freq = line_freq
        upper = [c.upper() for c in self._ch_names]
        if frontal is None:
            mask = [is_frontal(c) for c in self._ch_names]
        else:
            if isinstance(frontal, str):
                raise TypeError("frontal must be a sequence of channel names, not a string")
            missing = [c for c in frontal if str(c).upper() not in upper]
            if missing:
                raise ValueError(
                    f"frontal channels {missing} are not among ch_names {self._ch_names}"
                )
            wanted = {str(c).upper() for c in frontal}
            mask = [c in wanted for c in upper]
        self._frontal = np.array(mask, dtype=bool)
        self._plans: dict[int, _Plan] = {}
        self._block_plans: dict[tuple[int, int], _Blocks] = {}

    # ------------------------------------------------------------ properties
    @property
    def sfreq(self) -> float:
        """Sampling frequency in Hz."""
        return self._sfreq

    @property
    def ch_names(self) -> tuple[str, ...]:
        """Channel labels, in column order."""
        return self._ch_names

    @property
    def frontal(self) -> tuple[str, ...]:
        """Channels on which blinks are judged."""
        return tuple(c for c, f in zip(self._ch_names, self._frontal, strict=True) if f)

    @property
    def thresholds(self) -> ArtifactThresholds:
        """The detector thresholds."""
        return self._thresholds

    @property
    def line_freq(self) -> float | None:
        """Mains frequency in Hz, or None."""
        return self._line_freq

    def __repr__(self) -> str:
        return (
            f"ArtifactDetector(sfreq={self._sfreq:g}, {len(self._ch_names)} channels, "
            f"frontal={list(self.frontal)}, line_freq={self._line_freq})"
        )

    # ------------------------------------------------------------ public API
    def check(self, raw: np.ndarray) -> WindowArtifacts:
        """Detect artifacts in one raw window.

        Parameters
        ----------
        raw : array of shape (n_samples, n_channels)
            One window in µV, unfiltered (a DC offset is fine), at least half a
            second long.

        Returns
        -------
        artifacts : WindowArtifacts
            The detectors that tripped and their channels.
        """
        raw = self._check_windows(raw, ndim=2)
        tripped = self._decide(self._measure(raw))
        return self._to_result(tripped)

    def check_many(self, windows: np.ndarray) -> list[WindowArtifacts]:
        """Detect artifacts in many windows at once, as :meth:`check` would in each.

        Parameters
        ----------
        windows : array of shape (n_windows, n_samples, n_channels)
            Raw windows in µV; a strided view such as
            ``sliding_window_view(data, n, axis=0)[::hop].transpose(0, 2, 1)``
            is fine.

        Returns
        -------
        artifacts : list of WindowArtifacts
            One per window, in order; equal to ``[check(w) for w in windows]``.

        Notes
        -----
        Temporary memory is a few times the size of ``windows`` in float64;
        split recordings of more than a few minutes into batches.
        """
        windows = self._check_windows(windows, ndim=3)
        tripped = self._decide(self._measure(windows))
        return [self._to_result(t) for t in tripped]

    def measure(self, windows: np.ndarray) -> ArtifactMetrics:
        """The per-channel measures behind the detectors.

        Parameters
        ----------
        windows : array of shape (n_samples, n_channels) or (n_windows, n_samples, n_channels)
            One raw window or many, in µV.

        Returns
        -------
        metrics : ArtifactMetrics
            Arrays of shape (n_channels,) or (n_windows, n_channels).
        """
        arr = np.asarray(windows)
        return self._measure(self._check_windows(arr, ndim=3 if arr.ndim == 3 else 2))

    def tripped(self, metrics: ArtifactMetrics) -> np.ndarray:
        """Which detector tripped on which channel, from :meth:`measure`'s output.

        Parameters
        ----------
        metrics : ArtifactMetrics
            Measures with arrays of shape (..., n_channels).

        Returns
        -------
        tripped : array of bool, shape (..., n_detectors, n_channels)
            Rows in :data:`DETECTORS` order.
        """
        return self._decide(metrics)

    # ------------------------------------------------------------ internals
    def _check_windows(self, data: np.ndarray, ndim: int) -> np.ndarray:
        """Return ``data`` as float64 after checking its shape and length."""
        data = np.asarray(data, dtype=np.float64)
        expected = "(n_samples, n_channels)" if ndim == 2 else "(n_windows, n_samples, n_channels)"
        n_ch = len(self._ch_names)
        if data.ndim != ndim or data.shape[-1] != n_ch:
            raise ValueError(
                f"raw must have shape {expected} with n_channels={n_ch}, got shape {data.shape}"
            )
        n_min = math.ceil(_MIN_DURATION * self._sfreq)
        if data.shape[-2] < n_min:
            raise ValueError(
                f"windows must hold at least {_MIN_DURATION:g} s ({n_min} samples at "
                f"{self._sfreq:g} Hz), got {data.shape[-2]} samples"
            )
        return data

    def _plan(self, n: int) -> _Plan:
        """The length-dependent constants for ``n``-sample windows, built once."""
        plan = self._plans.get(n)
        if plan is not None:
            return plan
        # Orthonormal basis of polynomials up to _DETREND_DEGREE on the window, so the
        # fit is two small matrix products (no solve) and stays well conditioned.
        t = np.linspace(-1.0, 1.0, n)
        basis, _ = np.linalg.qr(np.vander(t, _DETREND_DEGREE + 1, increasing=True))
        freqs = scipy.fft.rfftfreq(n, 1.0 / self._sfreq)
        lo, hi = _LOW_BAND
        low = np.zeros(freqs.size)
        low[(freqs >= lo) & (freqs <= hi)] = 1.0
        edge = (freqs > hi) & (freqs < hi + _LOW_ROLLOFF)
        low[edge] = 0.5 + 0.5 * np.cos(np.pi * (freqs[edge] - hi) / _LOW_ROLLOFF)
        near_line = np.zeros(freqs.size, dtype=bool)
        line = np.zeros(freqs.size, dtype=bool)
        if self._line_freq is not None:
            # Leave every harmonic inside the bands out of the EEG measures.
            k = 1
            while k * self._line_freq - _LINE_HALF_WIDTH < self._sfreq / 2:
                near_line |= np.abs(freqs - k * self._line_freq) <= _LINE_HALF_WIDTH
                k += 1
            if self._line_freq + _LINE_HALF_WIDTH < self._sfreq / 2:
                line = np.abs(freqs - self._line_freq) <= _LINE_HALF_WIDTH
        hf = (freqs >= _HF_BAND[0]) & (freqs < _HF_BAND[1]) & ~near_line
        broad = (freqs >= _BROAD_BAND[0]) & (freqs < _BROAD_BAND[1]) & ~near_line
        bands = np.stack([hf, broad, line], axis=1).astype(np.float64)
        # Bins the bands use, and the neighbours the Hann taper mixes into them. Beyond
        # the one-sided spectrum the neighbours are conjugate mirrors: X[k] = conj X[n-k].
        nyq = n // 2
        n_band = int(np.flatnonzero(bands.any(axis=1))[-1]) + 1
        k = np.arange(n_band)
        left = np.abs(k - 1)
        left_conj = k == 0
        right = np.where(k + 1 <= nyq, k + 1, n - k - 1)
        right_conj = k + 1 > nyq
        low_bins = np.flatnonzero(low)
        n_bins = max(n_band, int(right.max()) + 1, int(low_bins.max()) + 1)
        # Inverse real DFT restricted to the low bins: irfft(spectrum * low).
        tt = np.arange(n)
        weight = np.where((low_bins == 0) | (2 * low_bins == n), 1.0, 2.0) * low[low_bins] / n
        phase = 2.0 * np.pi * np.outer(low_bins, tt) / n
        synthesis = np.concatenate(
            [weight[:, None] * np.cos(phase), -weight[:, None] * np.sin(phase)]
        )
        basis_dft = scipy.fft.rfft(basis, axis=0)[:n_bins].T.copy()
        # One-sided density of a periodic Hann window (sum of w^2 = 3n/8) times the bin
        # width sfreq/n: power per bin in µV², summing to band power as BandPower does.
        # The bands start at 1 Hz and end below Nyquist, so every bin is doubled.
        power_scale = 2.0 / (self._sfreq * (3.0 * n / 8.0)) * (self._sfreq / n)
        assert not bands[0].any()  # bands start at 1 Hz: bin 0 is in none
        pairs = np.repeat(bands[1:n_band], 2, axis=0)
        plan = _Plan(
            basis,
            n_bins,
            basis_dft,
            left,
            right,
            left_conj,
            right_conj,
            bands[:n_band],
            pairs,
            power_scale,
            low_bins,
            synthesis,
        )
        # setdefault: two threads building the same plan end up sharing one.
        return self._plans.setdefault(n, plan)

    def _blocks(self, n: int, hop: int) -> _Blocks:
        """The sliding path's constants for ``n``-sample windows every ``hop``, built once."""
        key = (n, hop)
        blocks = self._block_plans.get(key)
        if blocks is not None:
            return blocks
        plan = self._plan(n)
        g = math.gcd(n, hop)
        p, q = n // g, hop // g
        k = np.arange(plan.n_bins)
        phase = 2.0 * np.pi * np.outer(np.arange(g), k) / n
        # Block position j shifts the block by j*g samples: phase exp(-2 pi i k j / p),
        # exact for the quarter turns of the usual p = 4.
        turns = np.outer(np.arange(p), k) % p
        rotation = np.exp(-2j * np.pi * turns / p)
        quarter = (4 * turns) % p == 0
        rotation[quarter] = np.round(rotation[quarter])
        positions = plan.basis.reshape(p, g, -1).transpose(1, 0, 2).reshape(g, -1)
        # Real and imaginary parts interleaved, so the product's first columns read as
        # complex numbers without a copy.
        dft = np.empty((g, 2 * plan.n_bins + positions.shape[1]))
        dft[:, 0 : 2 * plan.n_bins : 2] = np.cos(phase)
        dft[:, 1 : 2 * plan.n_bins : 2] = -np.sin(phase)
        dft[:, 2 * plan.n_bins :] = positions
        return self._block_plans.setdefault(key, _Blocks(g, p, q, dft, rotation))

    def measure_sliding(
        self, data: np.ndarray, n_window: int, hop: int, *, finite: bool = False
    ) -> ArtifactMetrics:
        """Measures of every window of a stretch of raw samples, reusing their overlap.

        Window ``i`` holds samples ``i * hop`` to ``i * hop + n_window - 1``; the
        measures equal :meth:`measure` of each window to rounding (about 1e-12
        relative), and depend on nothing but the window's samples, so a window
        gives the same measures in any stretch.

        Parameters
        ----------
        data : array of shape (n_samples, n_channels)
            Consecutive raw samples in µV.
        n_window : int
            Samples per window (at least half a second).
        hop : int
            Samples between window starts, >= 1.
        finite : bool
            The caller guarantees every sample is finite (skips one check).

        Returns
        -------
        metrics : ArtifactMetrics
            Arrays of shape (n_windows, n_channels),
            ``n_windows = (n_samples - n_window) // hop + 1``.

        Notes
        -----
        The windows are cut into blocks of ``gcd(n_window, hop)`` samples (when
        a window holds at most 16 of them; otherwise each window is measured on
        its own, as :meth:`measure` does). Each
        block is transformed once (one matrix product for all of them) into its
        share of the DFT bins the measures use and of the detrending
        projections, and summarised by its extremes, mean and centred sum of
        squares; a window's measures combine those of its blocks (phase-rotated
        bins; variance by the parallel formula, which keeps a large DC offset
        out of the rounding). For 1 s windows every 0.25 s, each sample is
        transformed once instead of four times.
        """
        data = np.asarray(data, dtype=np.float64)
        n_window, hop = int(n_window), int(hop)
        if data.ndim != 2 or data.shape[1] != len(self._ch_names) or hop < 1:
            raise ValueError(
                f"data must have shape (n_samples, {len(self._ch_names)}) and hop be >= 1, "
                f"got shape {data.shape} and hop {hop}"
            )
        self._check_windows(data[:n_window], ndim=2)
        n_windows = (data.shape[0] - n_window) // hop + 1
        if n_windows < 1:
            raise ValueError(f"data holds no whole window of {n_window} samples")
        if n_window // math.gcd(n_window, hop) > _MAX_BLOCKS:
            # Windows and hop share no large block (e.g. 250 and 62 samples): each
            # window on its own.
            view = sliding_window_view(data, n_window, axis=0)[::hop][:n_windows]
            return self._measure(view.transpose(0, 2, 1))
        plan = self._plan(n_window)
        blk = self._blocks(n_window, hop)
        g, p, q = blk.g, blk.p, blk.q
        n_blocks = (n_windows - 1) * q + p
        n_ch = data.shape[1]
        blocks = data[: n_blocks * g].reshape(n_blocks, g, n_ch)
        all_finite = finite or bool(np.isfinite(blocks.sum()))
        finite = np.ones((n_windows, n_ch), dtype=bool)
        if not all_finite:  # rare: dropouts given as NaN or Inf
            ok = np.isfinite(blocks).all(axis=1)  # (n_blocks, n_ch)
            finite = self._per_window(ok, p, q, n_windows).all(axis=1)
            blocks = np.where(np.isfinite(blocks), blocks, 0.0)

        def combine(block_values: np.ndarray, how) -> np.ndarray:
            return how(self._per_window(block_values, p, q, n_windows), axis=1)

        # Extremes (from the blocks'), and how many samples sit at them (pinned).
        block_max, block_min = blocks.max(axis=1), blocks.min(axis=1)
        top = combine(block_max, np.max)
        bottom = combine(block_min, np.min)
        abs_max = np.maximum(top, -bottom)
        # A float32 stream's rail value comes back bit-identical, so "equal" allows
        # for float32 rounding only.
        tol = 1e-7 * abs_max
        at_top = _count_beyond(
            blocks, top - tol, p, q, above=True, block_max=block_max, block_min=block_min
        )
        at_bottom = _count_beyond(
            blocks, bottom + tol, p, q, above=False, block_max=block_max, block_min=block_min
        )
        moving = (top - bottom) > tol
        pinned = np.where(moving, np.maximum(at_top, at_bottom) / n_window, 0.0)

        # Each block's share of the DFT bins and of the detrending projections.
        nb = plan.n_bins
        d = _DETREND_DEGREE + 1
        parts = np.empty((n_blocks, n_ch, blk.dft.shape[1]))  # (n_blocks, n_ch, n_cols)
        for c in range(0, n_ch, _DFT_CHANNELS):
            np.matmul(
                blocks[..., c : c + _DFT_CHANNELS].transpose(0, 2, 1),
                blk.dft,
                out=parts[:, c : c + _DFT_CHANNELS],
            )
        bins = parts[..., : 2 * nb].view(np.complex128)  # (n_blocks, n_ch, nb)
        coef = parts[0 : n_windows * q : q, :, 2 * nb : 2 * nb + d].copy()
        for j in range(1, p):
            coef += parts[j : j + n_windows * q : q, :, 2 * nb + d * j : 2 * nb + d * (j + 1)]
        if p == 4:
            # Quarter turns: X = (G0 + s G2) + r (G1 + s G3), s = (-1)^k real, r = (-i)^k.
            # Real and imaginary parts side by side, copied together first (faster
            # to read than the columns of ``parts``).
            pairs = np.ascontiguousarray(parts[..., : 2 * nb])
            sign = np.repeat(blk.rotation[2].real, 2)
            even = pairs[2 : 2 + n_windows * q : q] * sign
            even += pairs[0 : n_windows * q : q]
            odd = pairs[3 : 3 + n_windows * q : q] * sign
            odd += pairs[1 : 1 + n_windows * q : q]
            spectrum = even.view(np.complex128)
            turned = odd.view(np.complex128)
            turned *= blk.rotation[1]
            spectrum += turned
        else:
            spectrum = bins[0 : n_windows * q : q].copy()
            for j in range(1, p):
                spectrum += bins[j : j + n_windows * q : q] * blk.rotation[j]
        spectrum -= coef @ plan.basis_dft

        # Variance about the window mean from the blocks' means and centred sums of
        # squares (parallel formula), then minus the linear and quadratic
        # projections: the detrended window's sum of squares.
        mean_b = bins[..., 0].real / g  # a block's sum is its DFT's bin 0
        centred = blocks - mean_b[:, np.newaxis, :]
        ss_b = np.einsum("bgc,bgc->bc", centred, centred)
        means = self._per_window(mean_b, p, q, n_windows)
        spread = combine(ss_b, np.sum) + g * np.square(
            means - means.mean(axis=1, keepdims=True)
        ).sum(axis=1)
        resid = spread - np.square(coef[..., 1:]).sum(axis=-1)
        std = np.sqrt(np.maximum(resid, 0.0) / n_window)
        return self._spectral(plan, spectrum, finite, std=std, abs_max=abs_max, pinned=pinned)

    @staticmethod
    def _per_window(block_values: np.ndarray, p: int, q: int, n_windows: int) -> np.ndarray:
        """(n_blocks, ...) -> (n_windows, p, ...): the values of each window's blocks."""
        view = sliding_window_view(block_values, p, axis=0)[::q][:n_windows]
        return np.moveaxis(view, -1, 1)

    def _measure(self, raw: np.ndarray) -> ArtifactMetrics:
        """Measures of (..., n, n_ch) windows as (..., n_ch) arrays."""
        n, n_ch = raw.shape[-2], raw.shape[-1]
        lead = raw.shape[:-2]
        plan = self._plan(n)
        # (n_windows, n_ch, n): time last, for the FFT.
        windows = np.ascontiguousarray(np.swapaxes(raw.reshape(-1, n, n_ch), 1, 2))
        finite = np.isfinite(windows).all(axis=2)
        if not finite.all():
            windows = np.where(np.isfinite(windows), windows, 0.0)
        top = windows.max(axis=-1)
        bottom = windows.min(axis=-1)
        abs_max = np.maximum(top, -bottom)
        # A float32 stream's rail value comes back bit-identical, so "equal" allows
        # for float32 rounding only.
        tol = 1e-7 * abs_max
        at_top = np.count_nonzero(windows >= (top - tol)[..., np.newaxis], axis=-1)
        at_bottom = np.count_nonzero(windows <= (bottom + tol)[..., np.newaxis], axis=-1)
        moving = (top - bottom) > tol
        pinned = np.where(moving, np.maximum(at_top, at_bottom) / n, 0.0)
        # Quadratic detrend: subtract the projection onto the polynomial basis.
        coef = windows @ plan.basis  # (n_windows, n_ch, degree + 1)
        detrended = windows - coef @ plan.basis.T
        std = np.sqrt(np.einsum("...n,...n->...", detrended, detrended) / n)
        spectrum = scipy.fft.rfft(detrended, axis=-1)[..., : plan.n_bins]
        m = self._spectral(plan, spectrum, finite, std=std, abs_max=abs_max, pinned=pinned)
        return ArtifactMetrics(
            **{f.name: getattr(m, f.name).reshape(*lead, n_ch) for f in fields(ArtifactMetrics)}
        )

    @staticmethod
    def _spectral(
        plan: _Plan, spectrum: np.ndarray, finite: np.ndarray, **measures: np.ndarray
    ) -> ArtifactMetrics:
        """Complete the measures from the detrended spectrum's first bins.

        ``spectrum`` is (n_windows, n_ch, n_bins); ``finite`` and ``measures``
        (the other measures) are (n_windows, n_ch) arrays, as is the result.
        """
        # Slow waveform: the untapered spectrum (a taper would hide blinks near the
        # window's edges) masked to 1-6 Hz and transformed back. A few windows at a
        # time, so the waveforms stay in cache.
        low_spec = spectrum[..., plan.low_bins]
        coefs = np.concatenate([low_spec.real, low_spec.imag], axis=-1)
        ptp_low = np.empty(finite.shape)
        for i in range(0, len(coefs), _SYNTH_BATCH):
            low = coefs[i : i + _SYNTH_BATCH] @ plan.synthesis
            ptp_low[i : i + _SYNTH_BATCH] = low.max(axis=-1) - low.min(axis=-1)

        # Hann taper applied in the frequency domain: multiplying by the periodic Hann
        # window is the circular convolution of the spectrum with (-1/4, 1/2, -1/4). The
        # neighbours beyond the one-sided spectrum are conjugate mirrors.
        n_band = plan.bands.shape[0]
        if plan.right_conj.any():
            below = spectrum[..., plan.left]
            above = spectrum[..., plan.right]
            below[..., plan.left_conj] = np.conj(below[..., plan.left_conj])
            above[..., plan.right_conj] = np.conj(above[..., plan.right_conj])
            hann = 0.5 * spectrum[..., :n_band] - 0.25 * (below + above)
            power = np.square(hann.real) + np.square(hann.imag)
            band = power @ plan.bands
        else:
            # Bin 0 is in no band; the others' neighbours are plain slices. Real and
            # imaginary parts side by side, squared and summed by one product.
            flat = spectrum.view(np.float64)
            hann = flat[..., 2 : 2 * n_band] * 0.5
            side = flat[..., 0 : 2 * n_band - 2] + flat[..., 4 : 2 * n_band + 2]
            side *= 0.25
            hann -= side
            np.square(hann, out=hann)
            band = hann @ plan.bands_pairs
        band *= plan.power_scale  # (n_windows, n_ch, 3)
        return ArtifactMetrics(
            ptp_low=ptp_low,
            std=measures["std"],
            hf_power=band[..., 0],
            broad_power=band[..., 1],
            line_power=band[..., 2],
            abs_max=measures["abs_max"],
            pinned=measures["pinned"],
            finite=finite,
        )

    def _decide(self, m: ArtifactMetrics) -> np.ndarray:
        """Boolean (..., n_detectors, n_channels) array of tripped detectors."""
        th = self._thresholds
        dropout = ~m.finite
        railed = ~dropout & ((m.abs_max >= th.railed_uv) | (m.pinned >= th.clip_fraction))
        flat = ~dropout & ~railed & (m.std < th.flat_uv)
        usable = ~(dropout | railed | flat)

        frontal = self._frontal
        blink = np.zeros_like(usable)
        if frontal.any():
            candidate = usable & frontal & (m.ptp_low >= th.blink_uv)
            back = usable & ~frontal
            if (~frontal).any() and candidate.any():
                # Median over the usable non-frontal channels of each window; NaN (no
                # usable one) leaves only the absolute test. Only windows with a
                # candidate need it.
                cand = candidate.reshape(-1, candidate.shape[-1])
                rows = np.flatnonzero(cand.any(axis=-1))
                ref = np.where(back, m.ptp_low, np.nan)[..., ~frontal]
                ref = ref.reshape(-1, ref.shape[-1])[rows]
                if np.isnan(ref).any():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        median = np.nanmedian(ref, axis=-1, keepdims=True)
                else:  # the same value, without nanmedian's masked-array detour
                    median = np.median(ref, axis=-1, keepdims=True)
                median = np.where(np.isnan(median), 0.0, median)
                ptp = m.ptp_low.reshape(cand.shape)[rows]
                cand[rows] &= ptp >= th.blink_dominance * median
                candidate = cand.reshape(candidate.shape)
            blink = candidate
        amplitude = usable & ~blink & (m.ptp_low >= th.amplitude_uv)
        emg = usable & ((m.hf_power >= th.emg_power_uv2) | (m.emg_ratio >= th.emg_ratio))
        line = usable & (m.line_ratio >= th.line_ratio)
        return np.stack([dropout, railed, flat, blink, amplitude, emg, line], axis=-2)

    def _to_result(self, tripped: np.ndarray) -> WindowArtifacts:
        """WindowArtifacts from one (n_detectors, n_channels) boolean array."""
        flags: dict[str, tuple[str, ...]] = {}
        for name, row in zip(DETECTORS, tripped, strict=True):
            if row.any():
                flags[name] = tuple(self._ch_names[i] for i in np.flatnonzero(row))
        return WindowArtifacts(flags)

    def results(self, metrics: ArtifactMetrics) -> list[WindowArtifacts]:
        """One :class:`WindowArtifacts` per window from many windows' measures.

        Parameters
        ----------
        metrics : ArtifactMetrics
            Measures with arrays of shape (n_windows, n_channels), e.g. from
            :meth:`measure_sliding`.

        Returns
        -------
        artifacts : list of WindowArtifacts
            What :meth:`check` says of each window.
        """
        tripped = self._decide(metrics)
        any_row = tripped.any(axis=-1)  # (n_windows, n_detectors)
        return [
            self._to_result(t) if hit.any() else WindowArtifacts({})
            for t, hit in zip(tripped, any_row, strict=True)
        ]


def _check_sfreq(sfreq: float) -> float:
    """Return ``sfreq`` as a float after checking the muscle band fits below Nyquist."""
    try:
        sfreq = float(sfreq)
    except (TypeError, ValueError):
        raise TypeError(f"sfreq must be a number, got {sfreq!r}") from None
    if not math.isfinite(sfreq) or sfreq <= 2 * _HF_BAND[1]:
        raise ValueError(
            f"sfreq must be a finite number above {2 * _HF_BAND[1]:g} Hz (the muscle band "
            f"reaches {_HF_BAND[1]:g} Hz), got {sfreq}"
        )
    return sfreq


def _check_names(ch_names: Sequence[str]) -> tuple[str, ...]:
    """Return channel names as a tuple after checking they are unique non-empty strings."""
    if isinstance(ch_names, str):
        raise TypeError("ch_names must be a sequence of channel names, not a string")
    names = tuple(str(c) for c in ch_names)
    if not names:
        raise ValueError("ch_names must hold at least one channel name")
    upper = [c.upper() for c in names]
    repeated = sorted({c for c in names if upper.count(c.upper()) > 1})
    if repeated:
        raise ValueError(f"ch_names must be unique (case-insensitive), repeated: {repeated}")
    return names

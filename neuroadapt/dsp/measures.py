"""Measures derived from band power: ratios, asymmetry, regional averages, individual alpha.

Everything here is pure and vectorised: band powers come in as arrays of any
shape (one window, many windows, many bands), with channels on the last axis
where channels matter, as :meth:`neuroadapt.dsp.bandpower.BandPower.compute_many`
returns them.

Undefined values are NaN, never a warning and never ``inf``: a ratio with a
zero denominator or the logarithm of a zero power has no meaning, and NaN is
what the live engine already turns into a hold of the feedback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import signal

__all__ = [
    "DEFAULT_IAF",
    "REGIONS",
    "IAFResult",
    "asymmetry",
    "individual_alpha_frequency",
    "ratio",
    "region_average",
    "region_indices",
    "relative_to_iaf",
]

#: Scalp regions by 10-20 / 10-10 electrode-name prefix (the letters before the
#: number or ``z``): each electrode belongs to exactly one region. Intermediate
#: rows go to the region whose rhythm they mostly carry: FC and CP (fronto- and
#: centro-parietal) to central, PO (parieto-occipital) to parietal, FT and TP to
#: temporal; I (inion row) to occipital. ``O1``, ``Oz``, ``O2`` are "occipital",
#: as in the alpha literature; pass explicit names for other groupings.
REGIONS: dict[str, tuple[str, ...]] = {
    "frontal": ("FP", "AF", "F"),
    "central": ("FC", "C", "CP"),
    "temporal": ("FT", "T", "TP"),
    "parietal": ("P", "PO"),
    "occipital": ("O", "I"),
}

# The old 10-20 names of the temporal row, as their 10-10 sites (T5/T6 sit at P7/P8).
_OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_POSITION = re.compile(r"^(FP|AF|FC|FT|CP|TP|PO|F|C|T|P|O|I)(Z|\d{1,2})$")

#: Default individual alpha frequency when a spectrum has no clear alpha peak:
#: the population mean of healthy adults (Klimesch 1999).
DEFAULT_IAF = 10.0


# ------------------------------------------------------------------ ratios
def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise ``num / den``, NaN where it is undefined.

    Use it for ratios such as theta/beta, where a zero denominator has no
    meaningful value (unlike :func:`neuroadapt.dsp.bandpower.relative_power`,
    whose 0 for a flat channel is a true fraction of nothing).

    Parameters
    ----------
    num, den : array_like
        Numerator and denominator, broadcastable to one shape, e.g. both
        (n_windows, n_channels).

    Returns
    -------
    ratio : array
        float64 in the broadcast shape; NaN where ``den`` is 0 (0 / 0 and
        x / 0 alike) or either input is NaN or infinite. No warning is raised.
    """
    num, den = np.broadcast_arrays(
        np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    )
    out = np.full(num.shape, np.nan)
    ok = np.isfinite(num) & np.isfinite(den) & (den != 0)
    np.divide(num, den, out=out, where=ok)
    return out


def asymmetry(right: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Log asymmetry ``ln(right) - ln(left)``, NaN where a power is not positive.

    The convention of frontal alpha asymmetry (FAA): ``right`` is alpha power
    at F4, ``left`` at F3 (Allen, Coan & Nazarian 2004, Biol Psychol
    67:183-218). Alpha power falls as cortex becomes active, so a positive
    value means relatively more *left*-frontal activity, the pattern linked
    to approach motivation; neurofeedback protocols for depression reward an
    increase.

    Parameters
    ----------
    right, left : array_like
        Band powers (µV²) of the right- and left-hemisphere sites,
        broadcastable to one shape, e.g. (n_windows,).

    Returns
    -------
    asymmetry : array
        float64 in the broadcast shape; NaN where either power is zero,
        negative, NaN or infinite. No warning is raised.
    """
    right, left = np.broadcast_arrays(
        np.asarray(right, dtype=np.float64), np.asarray(left, dtype=np.float64)
    )
    ok = np.isfinite(right) & np.isfinite(left) & (right > 0) & (left > 0)
    log_right = np.log(right, out=np.zeros(right.shape), where=ok)
    log_left = np.log(left, out=np.zeros(left.shape), where=ok)
    return np.where(ok, log_right - log_left, np.nan)


# ----------------------------------------------------------------- regions
def region_indices(ch_names: Sequence[str], region: str | Sequence[str]) -> list[int]:
    """Column indices of the channels of a named region, or of listed channels.

    Names are compared case-insensitively after trimming white space and the
    trailing dots of BCI2000 labels (``O1..``); the old temporal names T3-T6
    and their 10-10 equivalents T7, T8, P7, P8 find each other.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
        Channel labels in column order.
    region : str or sequence of str
        A key of :data:`REGIONS` (``"occipital"`` ...), or channel names.

    Returns
    -------
    indices : list of int
        In column order for a named region, in the given order for a list.

    Raises
    ------
    ValueError
        If a named region has no channel here, the name is not a region, or
        a listed channel is missing; the message lists what there is.
    """
    keys = [_key(name) for name in ch_names]
    if isinstance(region, str):
        prefixes = REGIONS.get(region.lower())
        if prefixes is None:
            raise ValueError(
                f"region {region!r} is not one of {', '.join(REGIONS)}; "
                "pass a list of channel names instead"
            )
        indices = [i for i, key in enumerate(keys) if _prefix(key) in prefixes]
        if not indices:
            raise ValueError(
                f"no {region} channel (prefixes {', '.join(prefixes)}) among "
                f"{', '.join(ch_names) or 'no channels'}"
            )
        return indices
    indices, missing = [], []
    for name in region:
        site = _site(_key(name))
        found = [i for i, key in enumerate(keys) if _site(key) == site]
        if found:
            indices.append(found[0])
        else:
            missing.append(name)
    if missing:
        raise ValueError(
            f"channels {', '.join(missing)} not found among {', '.join(ch_names) or 'none'}"
        )
    if not indices:
        raise ValueError("region lists no channel")
    return indices


def region_average(
    power: np.ndarray,
    ch_names: Sequence[str],
    region: str | Sequence[str],
    *,
    axis: int = -1,
) -> np.ndarray:
    """Mean band power over the channels of a scalp region.

    Parameters
    ----------
    power : array, channels along ``axis``
        E.g. (n_bands, n_channels) from :meth:`BandPower.compute` or
        (n_windows, n_bands, n_channels) from :meth:`BandPower.compute_many`.
    ch_names : sequence of str, length n_channels
        Labels of the channels along ``axis``.
    region : str or sequence of str
        ``"frontal"``, ``"central"``, ``"temporal"``, ``"parietal"``,
        ``"occipital"`` (see :data:`REGIONS`), or explicit channel names.
    axis : int
        The channel axis (default last).

    Returns
    -------
    average : array
        ``power`` averaged over the region's channels, with ``axis`` removed.
        A NaN in any of them makes the average NaN: a region with a missing
        channel is not the same region.

    Raises
    ------
    ValueError
        If ``power``'s channel axis does not match ``ch_names``, or see
        :func:`region_indices`.
    """
    power = np.asarray(power, dtype=np.float64)
    if power.ndim == 0 or power.shape[axis] != len(ch_names):
        raise ValueError(
            f"power has shape {power.shape}, whose axis {axis} does not hold the "
            f"{len(ch_names)} channels named"
        )
    indices = region_indices(ch_names, region)
    return np.take(power, indices, axis=axis).mean(axis=axis)


def _key(name: str) -> str:
    """Comparison key of a channel label: trimmed, without BCI2000 dots, upper case."""
    return name.strip().rstrip(".").strip().upper()


def _site(key: str) -> str:
    """The 10-10 name of a channel key: old temporal names become T7, T8, P7, P8."""
    return _OLD_NAMES.get(key, key)


def _prefix(key: str) -> str | None:
    """The 10-10 row letters of a channel key (``"PO"`` for ``"PO7"``), or None."""
    match = _POSITION.match(_site(key))
    return match.group(1) if match else None


# -------------------------------------------------- individual alpha frequency
@dataclass(frozen=True)
class IAFResult:
    """An individual alpha frequency estimate.

    Attributes
    ----------
    frequency : float
        The estimate in Hz; :data:`DEFAULT_IAF` (10 Hz) when ``found`` is False.
    found : bool
        Whether the spectrum had a clear alpha peak (see
        :func:`individual_alpha_frequency`).
    method : str
        ``"peak"`` or ``"cog"``.
    prominence_db : float
        Prominence of the most prominent peak in the band, in dB; NaN when
        the band holds no local maximum at all.
    reason : str
        Why no peak was accepted; ``""`` when ``found``.
    """

    frequency: float
    found: bool
    method: str
    prominence_db: float
    reason: str = ""


def individual_alpha_frequency(
    freqs: np.ndarray,
    psd: np.ndarray,
    *,
    band: tuple[float, float] = (7.0, 13.0),
    method: Literal["peak", "cog"] = "peak",
    min_prominence_db: float = 3.0,
    default: float = DEFAULT_IAF,
) -> IAFResult:
    """Individual alpha frequency (IAF) from a resting baseline spectrum.

    The spectrum is averaged over windows and channels (in power), so one
    estimate describes the person, as in Corcoran et al. 2018
    (Psychophysiology 55:e13064), who pool posterior channels.

    Parameters
    ----------
    freqs : array of shape (n_freqs,)
        Frequencies of the PSD bins in Hz, increasing (e.g. ``BandPower.freqs``).
    psd : array of shape (n_freqs,), (n_channels, n_freqs) or (n_windows, n_channels, n_freqs)
        Power spectral density, e.g. :meth:`BandPower.psd` of baseline windows
        of occipital-parietal channels, eyes closed for the clearest peak.
    band : (float, float)
        Search range in Hz; 7-13 Hz covers the adult alpha peak.
    method : {"peak", "cog"}
        ``"peak"``: the most prominent local maximum in the band, refined
        between bins by a parabola through the log power of the peak bin and
        its two neighbours (exact for a Gaussian-shaped peak; the
        Hamming-windowed peak of a sinusoid is close to one).
        ``"cog"``: the centre of gravity ``sum(f * P(f)) / sum(P(f))`` over the
        band's bins (Klimesch 1999, Brain Res Rev 29:169-195), less sensitive
        to a split or flat-topped peak but pulled toward the band's centre by
        the background.
    min_prominence_db : float
        A peak counts only if it rises at least this much (in dB) above the
        higher of the lowest points on either side within the band
        (:func:`scipy.signal.find_peaks` prominence). The default 3 dB (power
        doubled) rejects the ripple of an averaged noise spectrum (up to about
        1.6 dB for a minute of 1/f noise in 4 s windows) and the weak, often
        split alpha of eyes-open rest; an eyes-closed alpha peak rises
        10-15 dB (14 dB on PhysioNet EEGMMIDB S001R02).
    default : float
        The estimate returned when no peak qualifies.

    Returns
    -------
    result : IAFResult
        With ``found=False`` and ``frequency=default`` when the band holds no
        local maximum of at least ``min_prominence_db`` (a flat or monotonic
        spectrum, e.g. eyes open with little alpha), whatever the method: a
        centre of gravity of a spectrum without a peak describes the
        background, not an alpha rhythm.

    Raises
    ------
    ValueError
        On mismatched shapes, a band outside ``freqs`` or with fewer than
        three bins, an unknown method, or a PSD that is negative or not finite.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    psd = np.asarray(psd, dtype=np.float64)
    if method not in ("peak", "cog"):
        raise ValueError(f"method must be 'peak' or 'cog', got {method!r}")
    if freqs.ndim != 1 or psd.ndim not in (1, 2, 3) or psd.shape[-1] != freqs.size:
        raise ValueError(
            f"psd must have shape (..., n_freqs) with n_freqs = len(freqs) = {freqs.size} "
            f"and 1 to 3 dimensions, got shape {psd.shape}"
        )
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError("psd must be finite and non-negative")
    low, high = (float(edge) for edge in band)
    if not low < high:
        raise ValueError(f"band must be (low, high) with low < high, got {band!r}")
    mask = (freqs >= low) & (freqs <= high)
    if mask.sum() < 3:
        raise ValueError(
            f"band ({low:g}, {high:g}) Hz holds {mask.sum()} frequency bins; at least 3 are "
            "needed to find a peak (use longer windows for a finer resolution)"
        )
    spectrum = psd.reshape(-1, freqs.size).mean(axis=0)
    in_band = spectrum[mask]
    band_freqs = freqs[mask]
    if not (in_band > 0).all():
        return IAFResult(float(default), False, method, math.nan, "zero power in the band")
    log_power = 10.0 * np.log10(in_band)
    peaks, props = signal.find_peaks(log_power, prominence=0.0)
    if peaks.size == 0:
        return IAFResult(
            float(default), False, method, math.nan, "no local maximum inside the band"
        )
    best = int(np.argmax(props["prominences"]))
    prominence = float(props["prominences"][best])
    if prominence < min_prominence_db:
        return IAFResult(
            float(default),
            False,
            method,
            prominence,
            f"the most prominent peak rises {prominence:.2f} dB, below {min_prominence_db:g} dB",
        )
    if method == "cog":
        frequency = float(np.sum(band_freqs * in_band) / np.sum(in_band))
    else:
        k = int(peaks[best])  # find_peaks never reports the first or last bin
        before, at, after = log_power[k - 1 : k + 2]
        curvature = before - 2.0 * at + after  # < 0 at a strict local maximum
        shift = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
        frequency = float(band_freqs[k] + shift * (band_freqs[k + 1] - band_freqs[k - 1]) / 2)
    return IAFResult(frequency, True, method, prominence)


def relative_to_iaf(iaf: float, lower: float = -4.0, upper: float = 2.0) -> tuple[float, float]:
    """A frequency band anchored on the individual alpha frequency.

    The defaults give the individual alpha band ``[IAF - 4, IAF + 2]`` Hz of
    Klimesch (1999, Brain Res Rev 29:169-195), who splits it into lower-1
    alpha ``[IAF - 4, IAF - 2]``, lower-2 alpha ``[IAF - 2, IAF]`` and upper
    alpha ``[IAF, IAF + 2]`` (so ``relative_to_iaf(iaf, 0, 2)`` is the upper
    alpha band trained in Zoefel et al. 2011), with theta just below at
    ``[IAF - 6, IAF - 4]``. For an IAF of 10 Hz the alpha band is 6-12 Hz.

    Parameters
    ----------
    iaf : float
        Individual alpha frequency in Hz, e.g. ``IAFResult.frequency``.
    lower, upper : float
        Offsets of the band edges from ``iaf`` in Hz, ``lower < upper``.

    Returns
    -------
    band : (float, float)
        ``(iaf + lower, iaf + upper)`` in Hz, usable as a ``BandPower`` band.

    Raises
    ------
    ValueError
        If ``iaf`` is not a positive finite number, ``lower >= upper``, or the
        band would start below 0 Hz.
    """
    iaf, lower, upper = float(iaf), float(lower), float(upper)
    if not math.isfinite(iaf) or iaf <= 0:
        raise ValueError(f"iaf must be a positive frequency in Hz, got {iaf}")
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise ValueError(f"need finite offsets with lower < upper, got ({lower}, {upper})")
    if iaf + lower < 0:
        raise ValueError(f"band ({iaf + lower:g}, {iaf + upper:g}) Hz starts below 0 Hz")
    return (iaf + lower, iaf + upper)

"""Offline features of a whole recording, equal to what the live loop computes.

Replaying a recording through :class:`~neuroadapt.dsp.features.FeatureExtractor`
chunk by chunk reproduces a session exactly but costs one Welch PSD per window.
:func:`windows_features` computes the same band powers for every window at
once: the recording is filtered in one pass with :func:`filter_offline` (equal
to the live :class:`CausalFilter`, whatever the chunking), and
:meth:`BandPower.compute_sliding` computes every window's band power in batches
of bounded memory, sharing the work of overlapping windows. The windows end
where the live loop's do: ``n_window``, ``n_window + hop``, ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from neuroadapt.dsp.bandpower import BandPower, relative_power
from neuroadapt.dsp.filters import design_preprocessing, filter_offline
from neuroadapt.protocol.loader import check_against_stream
from neuroadapt.protocol.schema import Protocol

__all__ = ["protocol_features", "windows_features"]


def windows_features(
    data: np.ndarray,
    sfreq: float,
    window: float,
    hop: float,
    bands: Mapping[str, tuple[float, float]],
    *,
    highpass: float | None = 1.0,
    notch: float | None = 50.0,
    batch_size: int | None = None,
    method: Literal["auto", "blocks", "windows"] = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Band power of every analysis window of a recording, as the live loop computes it.

    Parameters
    ----------
    data : array of shape (n_samples, n_channels)
        Raw recording (µV), samples first.
    sfreq : float
        Sampling frequency in Hz.
    window, hop : float
        Window length and hop in seconds, turned into samples as
        :class:`FeatureExtractor` does: ``round(window * sfreq)`` and
        ``max(1, round(hop * sfreq))``.
    bands : mapping of str to (float, float)
        Band name to ``(low, high)`` in Hz (see :class:`BandPower`).
    highpass : float | None
        High-pass cut-off in Hz; None or 0 for none (the protocol's
        ``signal.highpass``).
    notch : float | None
        Mains frequency in Hz; None or 0 for none (``signal.notch``).
    batch_size : int | None
        Windows per batch; None keeps temporaries near 8 MB.
    method : {"auto", "blocks", "windows"}
        How band power is computed, see :meth:`BandPower.compute_sliding`.

    Returns
    -------
    ends : array of shape (n_windows,), int
        Index one past each window's last sample (``FeatureFrame.index``):
        ``n_window + i * hop``. ``timestamps[ends - 1]`` are the frame times.
    band_power : array of shape (n_windows, n_bands, n_channels)
        Absolute band power (µV²), bands in ``bands`` order. Equal to the live
        values to rounding (1e-13 relative with ``"blocks"``, exactly with
        ``"windows"``).

    Notes
    -----
    Non-finite samples are handled as live: each is replaced by the channel's
    last finite value (0 before the first), and every window holding one or
    starting less than a second (the filter's settling time) after one is
    NaN in every band and channel. The live loop marks the same windows, and
    also, depending on how the stream was chunked, windows ending up to one
    chunk before a dropout it has already received.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] < 1:
        raise ValueError(f"data must have shape (n_samples, n_channels), got shape {data.shape}")
    sfreq = float(sfreq)
    if not math.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a finite number > 0, got {sfreq}")
    n_window = int(round(window * sfreq))
    n_hop = max(1, int(round(hop * sfreq)))
    bp = BandPower(sfreq, n_window, bands)
    repaired, bad = _repair(data)
    sos = design_preprocessing(sfreq, highpass or None, notch or None)
    filtered = filter_offline(sos, repaired)
    del repaired
    power = bp.compute_sliding(filtered, n_hop, batch_size=batch_size, method=method)
    ends = n_window + n_hop * np.arange(power.shape[0], dtype=np.int64)
    if bad is not None:
        power[_dropout_windows(bad, ends, n_window, sfreq)] = np.nan
    return ends, power


def protocol_features(
    protocol: Protocol,
    data: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    *,
    stream: str = "recording",
    batch_size: int | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A protocol's features on every window of a recording, as the live loop computes them.

    Parameters
    ----------
    protocol : Protocol
        Signal settings and features, e.g. from
        :func:`neuroadapt.protocol.parse_protocol`.
    data : array of shape (n_samples, n_channels)
        Raw recording (µV), all channels of the stream.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str, length n_channels
        Channel labels, matched case-insensitively.
    stream : str
        Name of the recording, for error messages.
    batch_size : int | None
        See :func:`windows_features`.

    Returns
    -------
    ends : array of shape (n_windows,), int
        Index one past each window's last sample (``FeatureFrame.index``).
    features : dict of str to array of shape (n_windows,)
        One entry per protocol feature, in protocol order; equal to the live
        ``FeatureFrame.values`` to rounding.

    Raises
    ------
    ProtocolError
        When a needed channel is missing or a band is above Nyquist.
    """
    check_against_stream(protocol, sfreq, ch_names, stream)
    upper = [c.upper() for c in ch_names]
    used = protocol.channels
    pick = [upper.index(c.upper()) for c in used]
    bands: list[tuple[float, float]] = []
    for feature in protocol.features:
        for band in (feature.band, feature.total):
            if band is not None and tuple(band) not in bands:
                bands.append(tuple(band))
    data = np.asarray(data, dtype=np.float64)
    sig = protocol.signal
    ends, power = windows_features(
        data[:, pick],
        sfreq,
        sig.window,
        sig.hop,
        {f"{lo:g}-{hi:g}": (lo, hi) for lo, hi in bands},
        highpass=sig.highpass,
        notch=sig.notch,
        batch_size=batch_size,
    )
    # The live loop holds on a dropout in any channel of the stream, used or not.
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        power[_dropout_windows(bad, ends, int(round(sig.window * sfreq)), sfreq)] = np.nan
    features: dict[str, np.ndarray] = {}
    for feature in protocol.features:
        chans = [used.index(c) for c in feature.channels]
        band = power[:, bands.index(tuple(feature.band))][:, chans]
        if feature.total is None:
            features[feature.name] = band.mean(axis=1)
        else:
            total = power[:, bands.index(tuple(feature.total))][:, chans]
            features[feature.name] = relative_power(band, total).mean(axis=1)
    return ends, features


def _repair(data: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Replace non-finite samples by the channel's last finite value (0 before any).

    Returns the repaired data (``data`` itself when all finite) and a boolean
    array of shape (n_samples,) marking samples where any channel was bad, or
    None when none was.
    """
    finite = np.isfinite(data)
    if finite.all():
        return data, None
    rows = np.arange(data.shape[0])[:, np.newaxis]
    # Index of the last finite sample at or before each one, per channel (-1 if none).
    last = np.maximum.accumulate(np.where(finite, rows, -1), axis=0)
    repaired = np.take_along_axis(data, np.maximum(last, 0), axis=0)
    repaired[last < 0] = 0.0
    return repaired, ~finite.all(axis=1)


def _dropout_windows(bad: np.ndarray, ends: np.ndarray, n_window: int, sfreq: float) -> np.ndarray:
    """Windows that hold a bad sample or start within the filter's settling time after one.

    The live rule (:class:`FeatureExtractor`): a window whose first sample is
    less than ``int(sfreq)`` samples (1 s) after a bad one yields NaN.

    Parameters
    ----------
    bad : array of shape (n_samples,), bool
        Samples where any channel was not finite.
    ends : array of shape (n_windows,), int
        Index one past each window's last sample.
    n_window : int
        Window length in samples.
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    mask : array of shape (n_windows,), bool
    """
    count = np.concatenate([[0], np.cumsum(bad)])
    first = np.maximum(ends - n_window - int(sfreq), 0)
    return count[ends] > count[first]

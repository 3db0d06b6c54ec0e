"""Artifact detectors on synthetic EEG: each trips on its own artifact, none on clean EEG."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from neuroadapt.dsp.artifacts import (
    DETECTORS,
    HOLDING,
    ArtifactDetector,
    ArtifactThresholds,
    WindowArtifacts,
    is_frontal,
)
from neuroadapt.sources import SyntheticHeadset

SFREQ = 250.0
NAMES = ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "T7", "T8", "P3", "P4", "O1", "O2")
# Share of a frontal-polar blink seen at each site: ocular potentials fall off steeply
# from the eyes backwards.
BLINK_SPREAD = dict(
    zip(NAMES, (1.0, 1.0, 0.5, 0.5, 0.15, 0.15, 0.1, 0.1, 0.05, 0.05, 0.02, 0.02), strict=True)
)


def clean_eeg(
    seconds: float = 1.0, sfreq: float = SFREQ, seed: int = 0, names: tuple[str, ...] = NAMES
) -> np.ndarray:
    """Synthetic 1/f EEG with alpha, theta, beta and a little 50 Hz, no blinks, in µV."""
    headset = SyntheticHeadset(names, sfreq, seed=seed, blinks=False)
    return headset.generate(int(round(seconds * sfreq)))


def blink_wave(
    n: int, sfreq: float, onset: float, amplitude: float = 150.0, duration: float = 0.3
) -> np.ndarray:
    """A monophasic raised-cosine blink of ``amplitude`` µV starting at ``onset`` s."""
    t = np.arange(n) / sfreq - onset
    inside = (t >= 0) & (t <= duration)
    wave = np.zeros(n)
    wave[inside] = amplitude * 0.5 * (1 - np.cos(2 * np.pi * t[inside] / duration))
    return wave


def add_blink(
    x: np.ndarray, onset: float = 0.35, amplitude: float = 150.0, names: tuple[str, ...] = NAMES
) -> np.ndarray:
    """``x`` with a blink spread over the scalp as BLINK_SPREAD says."""
    wave = blink_wave(len(x), SFREQ, onset, amplitude)
    spread = np.array([BLINK_SPREAD.get(c, 0.0) for c in names])
    return x + wave[:, None] * spread


def emg_burst(n: int, sfreq: float, rms: float = 100.0, seed: int = 1) -> np.ndarray:
    """Broadband 30-100 Hz noise of ``rms`` µV: muscle activity such as a jaw clench."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(4, [30.0, min(100.0, 0.45 * sfreq)], "bandpass", fs=sfreq, output="sos")
    burst = signal.sosfilt(sos, rng.standard_normal(n + 500))[500:]
    return burst * rms / burst.std()


def sine(n: int, sfreq: float, freq: float, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / sfreq + 0.3)


@pytest.fixture
def detector() -> ArtifactDetector:
    return ArtifactDetector(SFREQ, NAMES)


# ------------------------------------------------------------------ clean EEG
@pytest.mark.parametrize("sfreq", [160.0, 250.0, 500.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_eeg_trips_nothing(sfreq: float, seed: int) -> None:
    data = clean_eeg(60.0, sfreq, seed)
    n = int(sfreq)
    windows = sliding_window_view(data, n, axis=0)[:: n // 4].transpose(0, 2, 1)
    results = ArtifactDetector(sfreq, NAMES).check_many(windows)
    assert len(results) == len(windows) > 200
    assert all(r.flags == {} for r in results)
    assert not any(r.contaminated for r in results)


def test_strong_alpha_is_not_an_artifact(detector: ArtifactDetector) -> None:
    # Eyes-closed alpha of 50 µV amplitude (35 µV RMS) over the back of the head.
    x = clean_eeg(1.0)
    back = [NAMES.index(c) for c in ("P3", "P4", "O1", "O2")]
    x[:, back] += sine(len(x), SFREQ, 10.0, 50.0)[:, None]
    assert detector.check(x).flags == {}


@pytest.mark.parametrize("offset", [50_000.0, -50_000.0])
def test_dc_offset_and_drift_do_not_trip_amplitude(
    detector: ArtifactDetector, offset: float
) -> None:
    # Real amplifiers: tens of mV of electrode offset, drifting hundreds of µV per second.
    x = clean_eeg(1.0)
    t = np.arange(len(x)) / SFREQ
    drift = offset + 400.0 * t[:, None] * np.linspace(-1, 1, len(NAMES)) + 150.0 * t[:, None] ** 2
    result = detector.check(x + drift)
    assert result.flags == {}
    np.testing.assert_allclose(
        detector.measure(x + drift).ptp_low, detector.measure(x).ptp_low, rtol=1e-6
    )


# ------------------------------------------------------------------ blinks
@pytest.mark.parametrize("onset", [0.0, 0.35, 0.7])
def test_blink_on_frontal_channels(detector: ArtifactDetector, onset: float) -> None:
    x = add_blink(clean_eeg(1.0, seed=3), onset=onset)
    result = detector.check(x)
    assert set(result.flags) == {"blink"}
    assert set(result.flags["blink"]) == {"Fp1", "Fp2"}
    assert result.contaminated
    assert result.describe().startswith("blink: Fp1, Fp2")


def test_blink_at_window_edge_is_flagged_in_a_neighbouring_window(
    detector: ArtifactDetector,
) -> None:
    # Half a blink at the very end of one window is whole in the next (hop 0.25 s).
    x = add_blink(clean_eeg(2.0, seed=4), onset=0.85)
    n = int(SFREQ)
    windows = sliding_window_view(x, n, axis=0)[:: n // 4].transpose(0, 2, 1)
    flagged = [("blink" in r.flags) for r in detector.check_many(windows)]
    assert any(flagged[1:4])


def test_blink_needs_no_back_channels() -> None:
    names = ("Fp1", "Fp2")
    x = clean_eeg(1.0, names=names)
    x = add_blink(x, names=names)
    assert ArtifactDetector(SFREQ, names).check(x).flags == {"blink": ("Fp1", "Fp2")}


def test_frontal_override_and_off(detector: ArtifactDetector) -> None:
    x = add_blink(clean_eeg(1.0))
    assert ArtifactDetector(SFREQ, NAMES, frontal=[]).check(x).flags == {}
    only = ArtifactDetector(SFREQ, NAMES, frontal=["fp2"])
    assert only.frontal == ("Fp2",)
    assert only.check(x).flags == {"blink": ("Fp2",)}


def test_even_background_is_not_a_blink() -> None:
    # A large slow wave on every channel alike is not ocular: frontal channels do not
    # dominate, so it is amplitude (if large enough), never blink.
    x = clean_eeg(1.0, seed=5)
    x += blink_wave(len(x), SFREQ, 0.3, 200.0, duration=0.5)[:, None]
    assert "blink" not in ArtifactDetector(SFREQ, NAMES).check(x).flags


# ------------------------------------------------------------------ amplitude
def test_large_amplitude_on_any_channel(detector: ArtifactDetector) -> None:
    x = clean_eeg(1.0, seed=6)
    x[:, NAMES.index("C3")] += blink_wave(len(x), SFREQ, 0.2, 400.0, duration=0.5)
    assert detector.check(x).flags == {"amplitude": ("C3",)}


def test_huge_blink_is_reported_as_blink_only(detector: ArtifactDetector) -> None:
    # 450 µV at Fp1/Fp2 (225 µV at F3/F4): above amplitude_uv, but it is a blink.
    x = add_blink(clean_eeg(1.0, seed=7), amplitude=450.0)
    assert detector.check(x).flags == {"blink": ("Fp1", "Fp2", "F3", "F4")}


# ------------------------------------------------------------------ EMG
@pytest.mark.parametrize("sfreq", [160.0, 250.0, 500.0])
def test_emg_burst(sfreq: float) -> None:
    x = clean_eeg(1.0, sfreq, seed=8)
    x[:, NAMES.index("T7")] += emg_burst(len(x), sfreq)
    result = ArtifactDetector(sfreq, NAMES).check(x)
    assert result.flags == {"emg": ("T7",)}
    assert result.contaminated
    assert result.describe() == "emg: T7"


def test_emg_by_ratio_on_a_quiet_channel() -> None:
    # Quiet EEG (a fifth of the usual) under a moderate burst: little absolute 25-45 Hz
    # power (about 400 µV²), but the spectrum is muscle, not brain.
    x = clean_eeg(1.0, seed=9) * 0.2
    x[:, 0] += emg_burst(len(x), SFREQ, rms=40.0)
    detector = ArtifactDetector(SFREQ, NAMES)
    metrics = detector.measure(x)
    assert metrics.hf_power[0] < ArtifactThresholds().emg_power_uv2
    assert detector.check(x).flags == {"emg": ("Fp1",)}


def test_emg_threshold_is_configurable() -> None:
    x = clean_eeg(1.0, seed=10)
    x[:, NAMES.index("C4")] += emg_burst(len(x), SFREQ, rms=40.0)  # about 400 µV²
    absolute_only = ArtifactThresholds(emg_ratio=1.0)
    assert ArtifactDetector(SFREQ, NAMES, thresholds=absolute_only).check(x).flags == {}
    strict = dataclasses.replace(absolute_only, emg_power_uv2=300.0)
    assert ArtifactDetector(SFREQ, NAMES, thresholds=strict).check(x).flags == {"emg": ("C4",)}


# ------------------------------------------------------------------ flat, railed
@pytest.mark.parametrize("value", [0.0, 12_345.6, -3.0])
def test_flat_channel(detector: ArtifactDetector, value: float) -> None:
    x = clean_eeg(1.0)
    x[:, NAMES.index("P4")] = value
    x[:, NAMES.index("O1")] = value + 0.1 * np.random.default_rng(0).standard_normal(len(x))
    assert detector.check(x).flags == {"flat": ("P4", "O1")}


@pytest.mark.parametrize("rail", [187_500.0, -187_500.0])
def test_railed_channel_constant_at_the_rail(detector: ArtifactDetector, rail: float) -> None:
    x = clean_eeg(1.0)
    x[:, NAMES.index("C4")] = rail
    # Railed, not also flat: a channel is reported once, by the first detector that applies.
    assert detector.check(x).flags == {"railed": ("C4",)}


def test_railed_channel_near_the_rail(detector: ArtifactDetector) -> None:
    x = clean_eeg(1.0)
    x[:, NAMES.index("O2")] += 180_000.0
    assert detector.check(x).flags == {"railed": ("O2",)}


def test_clipped_channel(detector: ArtifactDetector) -> None:
    # Clipped at some other amplifier's limit: a run of samples stuck at the extreme.
    x = clean_eeg(1.0, seed=11)
    big = 20.0 * x[:, NAMES.index("P3")]
    limit = np.quantile(np.abs(big), 0.85)
    x[:, NAMES.index("P3")] = np.clip(big, -limit, limit)
    assert detector.check(x).flags["railed"] == ("P3",)


def test_railed_reported_once_with_other_detectors(detector: ArtifactDetector) -> None:
    x = add_blink(clean_eeg(1.0, seed=12))
    x[:, NAMES.index("Fp1")] = 187_500.0
    x[:, NAMES.index("T8")] += emg_burst(len(x), SFREQ)
    flags = detector.check(x).flags
    assert flags == {"railed": ("Fp1",), "blink": ("Fp2",), "emg": ("T8",)}
    assert list(flags) == [d for d in DETECTORS if d in flags]


# ------------------------------------------------------------------ line noise
@pytest.mark.parametrize("line_freq", [50.0, 60.0])
def test_line_noise_at_the_given_mains_frequency(line_freq: float) -> None:
    x = clean_eeg(1.0, seed=13)
    x[:, NAMES.index("C3")] += sine(len(x), SFREQ, line_freq + 0.1, 50.0)
    result = ArtifactDetector(SFREQ, NAMES, line_freq=line_freq).check(x)
    assert result.flags == {"line_noise": ("C3",)}
    # Advisory: the feature path notches the mains, so the window is not held.
    assert not result.contaminated
    other = 60.0 if line_freq == 50.0 else 50.0
    assert ArtifactDetector(SFREQ, NAMES, line_freq=other).check(x).flags == {}
    assert ArtifactDetector(SFREQ, NAMES, line_freq=None).check(x).flags == {}


def test_huge_mains_trips_only_line_noise() -> None:
    # As on the OpenBCI sample: 60 Hz of about 185 µV RMS on every channel, much more
    # than the EEG; it must not pass for muscle or movement.
    x = clean_eeg(1.0, seed=14) + sine(250, SFREQ, 60.05, 260.0)[:, None]
    result = ArtifactDetector(SFREQ, NAMES, line_freq=60.0).check(x)
    assert result.flags == {"line_noise": NAMES}


# ------------------------------------------------------------------ dropouts
def test_non_finite_samples_are_a_dropout_of_that_channel(detector: ArtifactDetector) -> None:
    x = add_blink(clean_eeg(1.0, seed=15))
    x[100:110, NAMES.index("O1")] = np.nan
    x[5, NAMES.index("O2")] = np.inf
    result = detector.check(x)
    assert result.flags == {"dropout": ("O1", "O2"), "blink": ("Fp1", "Fp2")}
    assert result.contaminated


# ------------------------------------------------------------------ results
def test_window_artifacts_describe_and_contaminated() -> None:
    clean = WindowArtifacts({})
    assert clean.describe() == "clean" and not clean.contaminated and clean.channels == ()
    mixed = WindowArtifacts({"blink": ("Fz", "Fp1"), "emg": ("T7",), "line_noise": ("Fp1",)})
    assert mixed.describe() == "blink: Fz, Fp1; emg: T7; line_noise: Fp1"
    assert mixed.contaminated
    assert mixed.channels == ("Fz", "Fp1", "T7")
    assert not WindowArtifacts({"line_noise": ("O1",)}).contaminated
    assert frozenset(DETECTORS) - HOLDING == {"line_noise"}


def test_check_many_equals_check(detector: ArtifactDetector) -> None:
    rng = np.random.default_rng(16)
    base = clean_eeg(6.0, seed=16)
    windows = sliding_window_view(base, 250, axis=0)[::50].transpose(0, 2, 1).copy()
    windows[1] = add_blink(windows[1])
    windows[2, :, 6] += emg_burst(250, SFREQ)
    windows[3, :, 4] = 187_500.0
    windows[4, :, 5] = 7.0
    windows[5, :, 9] += sine(250, SFREQ, 50.0, 60.0)
    windows[6] += rng.uniform(-5e4, 5e4, len(NAMES))
    windows[7, 3:9, 2] = np.nan
    many = detector.check_many(windows)
    assert many == [detector.check(w) for w in windows]
    assert [bool(r.flags) for r in many[:9]] == [
        False,
        True,
        True,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    # A strided view (no copy) gives the same answers.
    view = sliding_window_view(base, 250, axis=0)[::50].transpose(0, 2, 1)
    assert detector.check_many(view) == [detector.check(w) for w in view]


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.floats(-1e5, 1e5), min_size=12, max_size=12),
    slope=st.floats(-2000.0, 2000.0),
    curve=st.floats(-500.0, 500.0),
    seed=st.integers(0, 10_000),
)
def test_offset_and_slow_trend_change_no_measure(
    offsets: list[float], slope: float, curve: float, seed: int
) -> None:
    # The quadratic detrend removes any offset, linear drift and curvature exactly.
    detector = ArtifactDetector(SFREQ, NAMES)
    x = add_blink(clean_eeg(1.0, seed=seed % 7))
    t = np.linspace(-0.5, 0.5, len(x))[:, None]
    shifted = x + np.asarray(offsets) + slope * t + curve * t**2
    a, b = detector.measure(x), detector.measure(shifted)
    for name in ("ptp_low", "std", "hf_power", "broad_power", "line_power"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-6, atol=1e-6)
    assert detector.check(shifted) == detector.check(x)


def test_band_power_equals_a_hann_periodogram(detector: ArtifactDetector) -> None:
    # The Hann taper applied in the frequency domain equals tapering in time; band power
    # is in the units of BandPower (µV², density times bin width).
    for n in (250, 251):
        x = clean_eeg(n / SFREQ, seed=17)[:n] + sine(n, SFREQ, 50.0, 30.0)[:, None]
        metrics = detector.measure(x)
        t = np.linspace(-1.0, 1.0, n)
        fit = np.polynomial.polynomial.polyvander(t, 2)
        detrended = x - fit @ np.linalg.lstsq(fit, x, rcond=None)[0]
        freqs, psd = signal.periodogram(detrended, SFREQ, window="hann", detrend=False, axis=0)
        df = freqs[1]
        line = np.abs(freqs - 50.0) <= 2.0
        hf = (freqs >= 25.0) & (freqs < 45.0)
        broad = (freqs >= 1.0) & (freqs < 45.0)
        np.testing.assert_allclose(metrics.hf_power, psd[hf].sum(0) * df, rtol=1e-9)
        np.testing.assert_allclose(metrics.broad_power, psd[broad].sum(0) * df, rtol=1e-9)
        np.testing.assert_allclose(metrics.line_power, psd[line].sum(0) * df, rtol=1e-9)
        np.testing.assert_allclose(metrics.std, detrended.std(0), rtol=1e-9)


def test_tone_power(detector: ArtifactDetector) -> None:
    x = np.zeros((250, len(NAMES)))
    x[:, 0] = sine(250, SFREQ, 30.0, 20.0)
    metrics = detector.measure(x)
    # A^2 / 2, up to the sliver of the sine the quadratic detrend takes away.
    assert metrics.hf_power[0] == pytest.approx(200.0, rel=1e-6)
    assert metrics.emg_ratio[0] == pytest.approx(1.0, abs=1e-3)
    assert metrics.line_ratio[1] == 0.0  # silent channel: no ratio, no warning


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.0, 4.0])
def test_window_lengths(seconds: float) -> None:
    detector = ArtifactDetector(SFREQ, NAMES)
    x = clean_eeg(seconds, seed=18)
    assert detector.check(x).flags == {}
    flags = detector.check(add_blink(x, onset=seconds / 2 - 0.15)).flags
    # F3/F4 see half the blink (75 µV) on top of the background: either way is right.
    assert set(flags) == {"blink"} and {"Fp1", "Fp2"} <= set(flags["blink"]) <= {
        "Fp1",
        "Fp2",
        "F3",
        "F4",
    }


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("name", "frontal"),
    [
        ("Fp1", True),
        ("FPZ", True),
        ("fp2", True),
        ("AF3", True),
        ("AFz", True),
        ("F7", True),
        ("Fz", True),
        ("F10", True),
        ("Fp1.", True),
        ("Fz..", True),
        ("EEG Fp1-REF", True),
        ("FC3", False),
        ("FT7", False),
        ("C3", False),
        ("Cz", False),
        ("O1..", False),
        ("T7", False),
        ("EXG Channel 0", False),
        ("F", False),
    ],
)
def test_is_frontal(name: str, frontal: bool) -> None:
    assert is_frontal(name) is frontal


def test_bci2000_names_are_frontal_by_default() -> None:
    names = ("Fp1.", "Fz..", "Fc1.", "O1..")
    assert ArtifactDetector(160.0, names).frontal == ("Fp1.", "Fz..")


# ------------------------------------------------------------------ argument checks
def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sfreq"):
        ArtifactDetector(80.0, NAMES)
    with pytest.raises(TypeError, match="sfreq"):
        ArtifactDetector("fast", NAMES)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        ArtifactDetector(SFREQ, ("Fp1", "fp1"))
    with pytest.raises(ValueError, match="at least one"):
        ArtifactDetector(SFREQ, ())
    with pytest.raises(TypeError, match="not a string"):
        ArtifactDetector(SFREQ, "Fp1")
    with pytest.raises(ValueError, match=r"\['Oz'\]"):
        ArtifactDetector(SFREQ, NAMES, frontal=["Fp1", "Oz"])
    with pytest.raises(ValueError, match="line_freq"):
        ArtifactDetector(SFREQ, NAMES, line_freq=-50.0)
    with pytest.raises(TypeError, match="thresholds"):
        ArtifactDetector(SFREQ, NAMES, thresholds={"flat_uv": 1.0})  # type: ignore[arg-type]


def test_bad_windows(detector: ArtifactDetector) -> None:
    with pytest.raises(ValueError, match=r"n_channels=12, got shape \(250, 3\)"):
        detector.check(np.zeros((250, 3)))
    with pytest.raises(ValueError, match=r"at least 0\.5 s"):
        detector.check(np.zeros((100, 12)))
    with pytest.raises(ValueError, match="n_windows"):
        detector.check_many(np.zeros((250, 12)))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("flat_uv", -1.0, ValueError),
        ("amplitude_uv", float("nan"), ValueError),
        ("emg_ratio", 1.5, ValueError),
        ("clip_fraction", 2.0, ValueError),
        ("line_ratio", 0.0, ValueError),
        ("railed_uv", True, TypeError),
        ("blink_uv", "100", TypeError),
    ],
)
def test_bad_thresholds(field: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=field):
        dataclasses.replace(ArtifactThresholds(), **{field: value})

"""Measures from band power: ratios, asymmetry, regions, individual alpha frequency."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from neuroadapt.dsp.bandpower import BandPower
from neuroadapt.dsp.filters import design_preprocessing, filter_offline
from neuroadapt.dsp.measures import (
    DEFAULT_IAF,
    REGIONS,
    asymmetry,
    individual_alpha_frequency,
    ratio,
    region_average,
    region_indices,
    relative_to_iaf,
)


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------ ratio
def test_ratio_divides_and_broadcasts(no_warnings) -> None:
    num = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = ratio(num, np.array([2.0, 4.0, 0.5]))
    assert out.dtype == np.float64 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[0.5, 0.5, 6.0], [2.0, 1.25, 12.0]])


def test_ratio_is_nan_where_undefined_without_warnings(no_warnings) -> None:
    num = np.array([0.0, 1.0, -1.0, np.nan, 1.0, np.inf, 3.0, -2.0])
    den = np.array([0.0, 0.0, 0.0, 1.0, np.nan, 1.0, np.inf, -4.0])
    out = ratio(num, den)
    np.testing.assert_array_equal(np.isnan(out), [1, 1, 1, 1, 1, 1, 1, 0])
    assert out[-1] == 0.5  # negative values are divided like any other


def test_ratio_of_scalars(no_warnings) -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert np.isnan(ratio(0.0, 0.0))


# ------------------------------------------------------------- asymmetry
def test_asymmetry_is_log_right_minus_log_left(no_warnings) -> None:
    right = np.array([4.0, 1.0, 2.0])
    left = np.array([1.0, 4.0, 2.0])
    np.testing.assert_allclose(asymmetry(right, left), [np.log(4), -np.log(4), 0.0])
    # More alpha on the right (F4) than on the left (F3) is positive.
    assert asymmetry(10.0, 5.0) > 0


def test_asymmetry_of_non_positive_or_non_finite_powers_is_nan(no_warnings) -> None:
    right = np.array([0.0, -1.0, 1.0, 1.0, np.nan, np.inf, 0.0, 2.0])
    left = np.array([1.0, 1.0, 0.0, -3.0, 1.0, 1.0, 0.0, 2.0])
    out = asymmetry(right, left)
    np.testing.assert_array_equal(np.isnan(out), [1, 1, 1, 1, 1, 1, 1, 0])
    assert out[-1] == 0.0


def test_asymmetry_broadcasts_over_windows(no_warnings) -> None:
    power = np.abs(np.random.default_rng(0).standard_normal((20, 2))) + 0.1
    out = asymmetry(power[:, 1], power[:, 0])
    np.testing.assert_allclose(out, np.log(power[:, 1] / power[:, 0]))


# ---------------------------------------------------------------- regions
PHYSIONET = (
    "Fc5. Fc3. Fc1. Fcz. Fc2. Fc4. Fc6. C5.. C3.. C1.. Cz.. C2.. C4.. C6.. Cp5. Cp3. Cp1. "
    "Cpz. Cp2. Cp4. Cp6. Fp1. Fpz. Fp2. Af7. Af3. Afz. Af4. Af8. F7.. F5.. F3.. F1.. Fz.. "
    "F2.. F4.. F6.. F8.. Ft7. Ft8. T7.. T8.. T9.. T10. Tp7. Tp8. P7.. P5.. P3.. P1.. Pz.. "
    "P2.. P4.. P6.. P8.. Po7. Po3. Poz. Po4. Po8. O1.. Oz.. O2.. Iz.."
).split()


def test_bci2000_labels_fall_into_one_region_each() -> None:
    assert len(PHYSIONET) == 64
    seen: list[int] = []
    for region in REGIONS:
        seen += region_indices(PHYSIONET, region)
    assert sorted(seen) == list(range(64))  # every electrode in exactly one region
    occipital = [PHYSIONET[i] for i in region_indices(PHYSIONET, "occipital")]
    assert occipital == ["O1..", "Oz..", "O2..", "Iz.."]
    frontal = [PHYSIONET[i] for i in region_indices(PHYSIONET, "Frontal")]
    assert "Fz.." in frontal and "Fc3." not in frontal and "Fp1." in frontal


def test_region_average_over_the_channel_axis() -> None:
    names = ["Fz", "C3", "O1", "O2", "Oz", "counter"]
    power = np.arange(2 * 3 * 6, dtype=float).reshape(2, 3, 6)  # (windows, bands, channels)
    out = region_average(power, names, "occipital")
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, power[..., 2:5].mean(axis=-1))
    by_list = region_average(power, names, ["o1", "O2."])
    np.testing.assert_array_equal(by_list, power[..., 2:4].mean(axis=-1))
    moved = region_average(np.moveaxis(power, -1, 0), names, "central", axis=0)
    np.testing.assert_array_equal(moved, power[..., 1])


def test_old_and_new_temporal_names_find_each_other() -> None:
    assert region_indices(["T3", "T4", "T5"], ["T7", "P7"]) == [0, 2]
    assert region_indices(["T7", "P8"], ["T3", "T6"]) == [0, 1]
    assert region_indices(["T3", "T5", "Cz"], "temporal") == [0]  # T5 is P7: parietal


def test_region_errors_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="no occipital channel"):
        region_indices(["Fz", "Cz"], "occipital")
    with pytest.raises(ValueError, match="'limbic' is not one of frontal"):
        region_indices(["Fz"], "limbic")
    with pytest.raises(ValueError, match="channels Pz not found among Fz, Cz"):
        region_indices(["Fz", "Cz"], ["Fz", "Pz"])
    with pytest.raises(ValueError, match="does not hold the 2 channels"):
        region_average(np.zeros((4, 3)), ["Fz", "Cz"], "frontal")


def test_region_average_propagates_nan() -> None:
    power = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    out = region_average(power, ["O1", "Oz", "O2"], "occipital")
    assert np.isnan(out[0]) and out[1] == 2.0


# --------------------------------------------------- individual alpha frequency
PINK_B = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
PINK_A = [1.0, -2.494956002, 2.017265875, -0.522189400]


def baseline_psd(data: np.ndarray, sfreq: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD of baseline windows every 0.5 s: (n_windows, n_channels, n_freqs)."""
    n = int(seconds * sfreq)
    bp = BandPower(sfreq, n, {"alpha": (8.0, 12.0)})
    windows = sliding_window_view(data, n, axis=0)[:: int(sfreq / 2)].transpose(0, 2, 1)
    return bp.freqs, np.stack([bp.psd(w) for w in windows])


def synthetic_alpha(freq: float, amplitude: float = 10.0, seed: int = 1) -> np.ndarray:
    """A minute of 1/f background (3 channels) with an alpha rhythm at ``freq`` Hz."""
    sfreq = 250.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(60 * sfreq)) / sfreq
    pink = 30.0 * lfilter(PINK_B, PINK_A, rng.standard_normal((t.size, 3)), axis=0)
    phases = rng.uniform(0, 2 * np.pi, 3)
    return pink + amplitude * np.sin(2 * np.pi * freq * t[:, np.newaxis] + phases)


@pytest.mark.parametrize("seconds", [1.0, 2.0])
@pytest.mark.parametrize("freq", [9.3, 8.7, 11.4])
def test_peak_iaf_of_a_synthetic_rhythm_is_within_0_2_hz(freq: float, seconds: float) -> None:
    freqs, psd = baseline_psd(synthetic_alpha(freq), 250.0, seconds)
    result = individual_alpha_frequency(freqs, psd)
    assert result.found and result.method == "peak" and result.reason == ""
    # Parabolic interpolation finds the peak between the bins (1 Hz apart for 1 s windows).
    assert result.frequency == pytest.approx(freq, abs=0.2)
    assert result.prominence_db > 10


def test_cog_iaf_of_a_synthetic_rhythm() -> None:
    freqs, psd = baseline_psd(synthetic_alpha(9.3), 250.0, 2.0)
    result = individual_alpha_frequency(freqs, psd, method="cog")
    assert result.found and result.method == "cog"
    assert result.frequency == pytest.approx(9.3, abs=0.3)


def test_no_clear_peak_falls_back_to_10_hz() -> None:
    rng = np.random.default_rng(3)
    pink = lfilter(PINK_B, PINK_A, rng.standard_normal((15000, 3)), axis=0)
    freqs, psd = baseline_psd(pink, 250.0, 2.0)
    for method in ("peak", "cog"):
        result = individual_alpha_frequency(freqs, psd, method=method)
        assert not result.found and result.frequency == DEFAULT_IAF
        assert "below 3 dB" in result.reason or "no local maximum" in result.reason
    # A monotonic spectrum has no local maximum at all.
    falling = 1.0 / np.maximum(freqs, 0.5)
    result = individual_alpha_frequency(freqs, falling, default=9.5)
    assert not result.found and result.frequency == 9.5 and np.isnan(result.prominence_db)
    assert result.reason == "no local maximum inside the band"


def test_iaf_accepts_one_spectrum_or_channels() -> None:
    freqs, psd = baseline_psd(synthetic_alpha(10.4), 250.0, 2.0)
    whole = individual_alpha_frequency(freqs, psd).frequency
    assert individual_alpha_frequency(freqs, psd.mean(axis=0)).frequency == pytest.approx(whole)
    assert individual_alpha_frequency(freqs, psd.mean(axis=(0, 1))).frequency == pytest.approx(
        whole
    )


def test_iaf_bad_input_raises() -> None:
    freqs = np.arange(0.0, 50.0)
    with pytest.raises(ValueError, match="n_freqs = len"):
        individual_alpha_frequency(freqs, np.ones((3, 40)))
    with pytest.raises(ValueError, match="finite and non-negative"):
        individual_alpha_frequency(freqs, -np.ones(50))
    with pytest.raises(ValueError, match="holds 2 frequency bins"):
        individual_alpha_frequency(freqs, np.ones(50), band=(9.5, 11.0))
    with pytest.raises(ValueError, match="method must be"):
        individual_alpha_frequency(freqs, np.ones(50), method="max")  # type: ignore[arg-type]


def occipital_psd(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import mne

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    sfreq = raw.info["sfreq"]
    data = raw.get_data(picks=["O1..", "Oz..", "O2.."]).T * 1e6
    filtered = filter_offline(design_preprocessing(sfreq, 1.0, 60.0), data)
    return baseline_psd(filtered, sfreq, 2.0)


def test_iaf_of_eyes_closed_physionet_is_near_10_hz(shared_eeg: Path) -> None:
    folder = shared_eeg / "physionet_eegmmidb"
    freqs, psd = occipital_psd(folder / "S001R02.edf")
    for method in ("peak", "cog"):
        result = individual_alpha_frequency(freqs, psd, method=method)
        # SOURCES.md: the eyes-closed occipital peak is at 10.0 Hz.
        assert result.found and 9.0 < result.frequency < 11.0, result
    closed = individual_alpha_frequency(freqs, psd).prominence_db
    freqs, psd = occipital_psd(folder / "S001R01.edf")
    eyes_open = individual_alpha_frequency(freqs, psd)
    assert closed > eyes_open.prominence_db + 5, (closed, eyes_open)


def test_relative_to_iaf() -> None:
    assert relative_to_iaf(10.0) == (6.0, 12.0)
    assert relative_to_iaf(9.3, 0.0, 2.0) == pytest.approx((9.3, 11.3))
    with pytest.raises(ValueError, match="lower < upper"):
        relative_to_iaf(10.0, 2.0, -4.0)
    with pytest.raises(ValueError, match="positive frequency"):
        relative_to_iaf(float("nan"))
    with pytest.raises(ValueError, match="below 0 Hz"):
        relative_to_iaf(3.0)

"""Offline features of a whole recording equal the live FeatureExtractor's, window by window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from neuroadapt.dsp.bandpower import BANDS, BandPower
from neuroadapt.dsp.features import FeatureExtractor
from neuroadapt.dsp.filters import design_preprocessing, filter_offline
from neuroadapt.dsp.offline import protocol_features, windows_features
from neuroadapt.protocol import parse_protocol

TEXT = """
[protocol]
name = "offline"
[signal]
window = 1.0
hop = 0.25
[[features]]
name = "alpha_rel"
kind = "relative_band_power"
band = [8, 12]
total = [1, 40]
channels = ["O1", "O2"]
[[features]]
name = "theta_rel"
kind = "relative_band_power"
band = [4, 8]
total = [1, 40]
channels = ["Fz", "Cz"]
[[features]]
name = "beta_abs"
kind = "band_power"
band = [13, 30]
channels = ["Cz"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
"""
CH = ["Fz", "Cz", "Pz", "O1", "O2"]
SF = 250.0


def recording(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SF
    data = 10 * rng.standard_normal((n, len(CH)))
    data[:, 3:] += 20 * np.sin(2 * np.pi * 10 * t)[:, None] * (1 + np.sin(0.5 * t))[:, None]
    data[:, :2] += 8 * np.sin(2 * np.pi * 6 * t)[:, None]
    data += rng.uniform(-4000, 4000, len(CH))  # electrode offsets, as amplifiers deliver
    return data, 1000.0 + t


def live(text: str, data: np.ndarray, ts: np.ndarray, sfreq: float, names, chunk: int):
    extractor = FeatureExtractor(parse_protocol(text), sfreq, names)
    frames = []
    for i in range(0, len(data), chunk):
        frames += extractor.push(data[i : i + chunk], ts[i : i + chunk])
    return frames


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_protocol_features_equal_the_live_frames(chunk: int) -> None:
    data, ts = recording(6000)
    frames = live(TEXT, data, ts, SF, CH, chunk)
    ends, features = protocol_features(parse_protocol(TEXT), data, SF, CH)
    assert list(features) == ["alpha_rel", "theta_rel", "beta_abs"]
    np.testing.assert_array_equal(ends, [f.index for f in frames])
    np.testing.assert_array_equal(ts[ends - 1], [f.t for f in frames])
    for name, values in features.items():
        expected = np.array([f.values[name] for f in frames])
        np.testing.assert_allclose(values, expected, rtol=1e-9, atol=0)
    assert 0.4 < np.mean(features["alpha_rel"]) < 1.0


def test_windows_end_where_the_live_windows_end() -> None:
    data, _ = recording(3000)
    ends, power = windows_features(data, SF, 1.0, 0.25, BANDS, highpass=1.0, notch=50.0)
    n_window, hop = 250, 62  # round(0.25 * 250) = 62, as FeatureExtractor rounds
    assert power.shape == ((3000 - n_window) // hop + 1, len(BANDS), len(CH))
    np.testing.assert_array_equal(ends, n_window + hop * np.arange(len(ends)))
    filtered = filter_offline(design_preprocessing(SF, 1.0, 50.0), data)
    bp = BandPower(SF, n_window, BANDS)
    for i in (0, 1, len(ends) // 2, len(ends) - 1):
        expected = bp.compute(filtered[ends[i] - n_window : ends[i]])
        np.testing.assert_allclose(power[i], expected, rtol=1e-10)


def test_methods_and_batch_sizes_agree() -> None:
    data, _ = recording(4000, seed=4)
    reference = windows_features(data, SF, 1.0, 0.1, BANDS, method="windows", batch_size=3)[1]
    for method in ("auto", "blocks", "windows"):
        for batch_size in (None, 1, 16):
            _, power = windows_features(
                data, SF, 1.0, 0.1, BANDS, method=method, batch_size=batch_size
            )
            np.testing.assert_allclose(power, reference, rtol=1e-10, atol=0)


def test_filters_off_and_short_recordings() -> None:
    data, _ = recording(1000)
    _, power = windows_features(data, SF, 2.0, 0.5, BANDS, highpass=0, notch=None)
    bp = BandPower(SF, 500, BANDS)
    np.testing.assert_allclose(power[0], bp.compute(data[:500]), rtol=1e-10)
    ends, power = windows_features(data[:400], SF, 2.0, 0.5, BANDS)
    assert ends.shape == (0,) and power.shape == (0, len(BANDS), len(CH))
    with pytest.raises(ValueError, match=r"\(n_samples, n_channels\)"):
        windows_features(data[:, 0], SF, 1.0, 0.25, BANDS)


def test_dropouts_make_windows_nan_as_live() -> None:
    data, ts = recording(6000)
    data[1500:1510, 3] = np.nan  # a feature channel
    data[3300, 2] = np.inf  # Pz: in the stream, used by no feature
    ends, features = protocol_features(parse_protocol(TEXT), data, SF, CH)
    nan = np.isnan(features["alpha_rel"])
    # Windows holding a bad sample or starting less than 1 s (250 samples) after one.
    settled = ends - 250 - 250  # first sample of the window, minus the settling time
    expected = ((settled <= 1509) & (ends > 1500)) | ((settled <= 3300) & (ends > 3300))
    np.testing.assert_array_equal(nan, expected)
    for chunk in (10_000, 33):
        frames = live(TEXT, data, ts, SF, CH, chunk)
        for name, values in features.items():
            assert np.array_equal(np.isnan(values), nan)
            live_values = np.array([f.values[name] for f in frames])
            live_nan = np.isnan(live_values)
            # Live voids exactly the same windows, whatever the chunking.
            np.testing.assert_array_equal(live_nan, nan)
            both = ~live_nan
            np.testing.assert_allclose(values[both], live_values[both], rtol=1e-9, atol=0)


def test_real_recording_offline_equals_live(shared_eeg: Path) -> None:
    """PhysioNet EEGMMIDB S001R02 (eyes closed, 64 channels, 160 Hz) in 16-sample chunks."""
    import mne

    raw = mne.io.read_raw_edf(
        shared_eeg / "physionet_eegmmidb" / "S001R02.edf", preload=True, verbose="error"
    )
    names = [c.strip(".") for c in raw.ch_names]  # BCI2000 labels: "O1.." -> "O1"
    data = raw.get_data().T * 1e6
    text = TEXT.replace("[signal]", "[signal]\nnotch = 60").replace(
        '"O1", "O2"', '"O1", "Oz", "O2"'
    )
    frames = live(text, data, raw.times, raw.info["sfreq"], names, chunk=16)
    ends, features = protocol_features(parse_protocol(text), data, raw.info["sfreq"], names)
    np.testing.assert_array_equal(ends, [f.index for f in frames])
    for name, values in features.items():
        expected = np.array([f.values[name] for f in frames])
        np.testing.assert_allclose(values, expected, rtol=1e-9, atol=0)
    assert np.mean(features["alpha_rel"]) > 0.4  # eyes closed


def test_protocol_features_need_the_protocol_channels() -> None:
    from neuroadapt.errors import ProtocolError

    data, _ = recording(500)
    with pytest.raises(ProtocolError, match="O1, O2 not in rec"):
        protocol_features(parse_protocol(TEXT), data[:, :3], SF, CH[:3], stream="rec")


def test_windows_view_is_not_copied_whole() -> None:
    """The 'windows' method reads a strided view: no (n_windows, n_window, n_ch) copy."""
    data, _ = recording(2000)
    filtered = filter_offline(design_preprocessing(SF, 1.0, 50.0), data)
    bp = BandPower(SF, 250, BANDS)
    windows = sliding_window_view(filtered, 250, axis=0)[::10].transpose(0, 2, 1)
    assert np.shares_memory(windows, filtered)
    np.testing.assert_allclose(
        bp.compute_many(windows, batch_size=8),
        bp.compute_sliding(filtered, 10, method="windows"),
        rtol=0,
        atol=0,
    )

"""Tests of the causal preprocessing filters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from neuroadapt.dsp.filters import CausalFilter, design_preprocessing, filter_offline

#: Electrode offset of real OpenBCI recordings, in µV (40 mV).
DC_OFFSET_UV = 40_000.0


def eeg_like(n_samples: int, n_channels: int, sfreq: float, seed: int = 0) -> np.ndarray:
    """Noise plus 10 Hz alpha and 50 Hz mains on a 40 mV offset, in µV, samples first."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples)[:, np.newaxis] / sfreq
    offsets = DC_OFFSET_UV * (1.0 + 0.1 * np.arange(n_channels))
    return (
        offsets
        + 20.0 * np.sin(2 * np.pi * 10.0 * t)
        + 30.0 * np.sin(2 * np.pi * 50.0 * t + 0.3)
        + 5.0 * rng.standard_normal((n_samples, n_channels))
    )


def amplitude_at(x: np.ndarray, freq: float, sfreq: float) -> np.ndarray:
    """Least-squares amplitude of a sinusoid at ``freq`` in each column of ``x``."""
    t = np.arange(len(x)) / sfreq
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return np.hypot(coef[0], coef[1])


def db(amplitude: np.ndarray, reference: float) -> np.ndarray:
    """Gain in decibels of ``amplitude`` relative to ``reference``."""
    return 20 * np.log10(amplitude / reference)


def filter_in_chunks(filt: CausalFilter, data: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed ``data`` through ``filt`` in chunks of the given sizes (the rest as one chunk)."""
    out, start = [], 0
    for size in sizes:
        out.append(filt.process(data[start : start + size]))
        start += size
    out.append(filt.process(data[start:]))
    return np.concatenate(out, axis=0)


# ----------------------------------------------------------------- design


@pytest.mark.parametrize(
    ("sfreq", "notch", "n_notches"),
    [(250.0, 50.0, 2), (500.0, 50.0, 4), (160.0, 60.0, 1), (200.0, 50.0, 1), (256.0, 60.0, 2)],
)
def test_notch_harmonics_strictly_below_nyquist(sfreq: float, notch: float, n_notches: int) -> None:
    sos = design_preprocessing(sfreq, highpass=None, notch=notch)
    assert sos.shape == (n_notches, 6)
    sos_hp = design_preprocessing(sfreq, highpass=1.0, notch=notch, order=4)
    assert sos_hp.shape == (2 + n_notches, 6)  # a 4th-order Butterworth is 2 sections


def test_identity_when_nothing_requested() -> None:
    sos = design_preprocessing(250.0, highpass=None, notch=None)
    assert sos.shape == (1, 6)
    x = eeg_like(500, 2, 250.0)
    np.testing.assert_array_equal(filter_offline(sos, x), x)


@pytest.mark.parametrize(("sfreq", "notch"), [(250.0, 50.0), (500.0, 50.0), (250.0, 60.0)])
def test_frequency_response(sfreq: float, notch: float) -> None:
    sos = design_preprocessing(sfreq, 1.0, notch)
    harmonics = [k * notch for k in range(1, 10) if k * notch < sfreq / 2]
    freqs = np.array([0.0, 10.0, *harmonics])
    _, h = signal.sosfreqz(sos, worN=freqs, fs=sfreq)
    gain_db = 20 * np.log10(np.maximum(np.abs(h), 1e-300))
    assert gain_db[0] < -100  # DC
    assert abs(gain_db[1]) < 0.5  # 10 Hz
    assert np.all(gain_db[2:] < -30), dict(zip(harmonics, gain_db[2:], strict=True))


@pytest.mark.parametrize("sfreq", [250.0, 500.0])
def test_line_noise_removed_alpha_kept_on_signals(sfreq: float) -> None:
    n = int(20 * sfreq)
    t = np.arange(n)[:, np.newaxis] / sfreq
    x = (
        DC_OFFSET_UV
        + 20.0 * np.sin(2 * np.pi * 10.0 * t)
        + 30.0 * np.sin(2 * np.pi * 50.0 * t)
        + 30.0 * np.sin(2 * np.pi * 100.0 * t + 1.0)
    )
    y = filter_offline(design_preprocessing(sfreq), x)
    settled = y[n // 2 :]  # the notches settle in well under a second
    assert db(amplitude_at(settled, 50.0, sfreq), 30.0) < -30
    assert db(amplitude_at(settled, 100.0, sfreq), 30.0) < -30
    assert abs(db(amplitude_at(settled, 10.0, sfreq), 20.0)) < 0.5
    assert abs(settled.mean()) < 1e-3  # the 40 mV offset is gone


def test_highpass_removes_a_dc_step() -> None:
    sfreq = 250.0
    x = np.zeros((int(30 * sfreq), 2))
    x[int(2 * sfreq) :] = DC_OFFSET_UV  # electrode offset appearing after 2 s
    y = filter_offline(design_preprocessing(sfreq, 1.0, None), x)
    assert np.abs(y[int(2 * sfreq) + 10]).max() > 1000  # the step does go through at first
    assert np.abs(y[-int(5 * sfreq) :]).max() < 1e-3 * DC_OFFSET_UV


def test_steady_state_start_does_not_ring_on_offset() -> None:
    """A 40 mV offset present from the first sample gives no transient."""
    sfreq = 250.0
    x = np.full((int(5 * sfreq), 3), DC_OFFSET_UV)
    sos = design_preprocessing(sfreq)
    y = filter_offline(sos, x)
    assert np.abs(y).max() < 1e-6 * DC_OFFSET_UV
    naive = signal.sosfilt(sos, x, axis=0)  # zero initial state, for contrast
    assert np.abs(naive).max() > 0.5 * DC_OFFSET_UV


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sfreq": 250.0, "highpass": 0.0}, r"highpass=0 Hz is invalid at sfreq=250 Hz"),
        ({"sfreq": 250.0, "highpass": -1.0}, r"highpass=-1 Hz .* must be > 0"),
        ({"sfreq": 250.0, "highpass": 125.0}, r"highpass=125 Hz .* Nyquist frequency 125 Hz"),
        ({"sfreq": 250.0, "highpass": 300.0}, r"highpass=300 Hz .* Nyquist"),
        ({"sfreq": 100.0, "notch": 50.0}, r"notch=50 Hz is invalid at sfreq=100 Hz"),
        ({"sfreq": 250.0, "notch": 0.0}, r"notch=0 Hz .* must be > 0"),
        ({"sfreq": 250.0, "notch": float("nan")}, r"notch=nan Hz"),
        ({"sfreq": 0.0}, r"sfreq must be a finite number > 0"),
        ({"sfreq": 250.0, "order": 0}, r"order must be an integer >= 1"),
        ({"sfreq": 250.0, "notch_q": 0.0}, r"notch_q must be a finite number > 0"),
    ],
)
def test_bad_design_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        design_preprocessing(**kwargs)


# ----------------------------------------------------------- causal filter

CHUNK_SIZES = [0, 1, 0, 7, 1, 1, 250, 3, 0, 64, 1, 500, 13]


@pytest.mark.parametrize("sfreq", [160.0, 250.0, 500.0])
def test_chunked_equals_whole(sfreq: float) -> None:
    x = eeg_like(int(6 * sfreq), 5, sfreq)
    sos = design_preprocessing(sfreq, 1.0, 50.0)
    whole = filter_offline(sos, x)
    chunked = filter_in_chunks(CausalFilter(sos, 5), x, CHUNK_SIZES)
    assert chunked.shape == x.shape and chunked.dtype == np.float64
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 90), max_size=30), n_channels=st.integers(1, 4))
def test_chunked_equals_whole_for_any_partition(sizes: list[int], n_channels: int) -> None:
    sfreq = 250.0
    x = eeg_like(600, n_channels, sfreq, seed=1)
    sos = design_preprocessing(sfreq)
    whole = filter_offline(sos, x)
    chunked = filter_in_chunks(CausalFilter(sos, n_channels), x, sizes)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-9)


def test_reset_restarts_from_the_next_sample() -> None:
    sfreq = 250.0
    x = eeg_like(1000, 3, sfreq)
    sos = design_preprocessing(sfreq)
    filt = CausalFilter(sos, 3)
    filt.process(x[:400])
    assert filt.initialized
    filt.reset()
    assert not filt.initialized
    np.testing.assert_allclose(filt.process(x[400:]), filter_offline(sos, x[400:]), atol=1e-9)


def test_empty_chunk_returns_empty_and_keeps_state_unset() -> None:
    filt = CausalFilter(design_preprocessing(250.0), 3)
    out = filt.process(np.zeros((0, 3)))
    assert out.shape == (0, 3) and out.dtype == np.float64
    assert not filt.initialized


def test_float32_input_gives_float64_output() -> None:
    x = eeg_like(300, 2, 250.0).astype(np.float32)
    out = CausalFilter(design_preprocessing(250.0), 2).process(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, filter_offline(design_preprocessing(250.0), x), atol=1e-9)


def test_wrong_chunk_shape_raises_naming_the_shape() -> None:
    filt = CausalFilter(design_preprocessing(250.0), 3)
    with pytest.raises(ValueError, match=r"\(n_samples, 3\), got shape \(10, 2\)"):
        filt.process(np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"got shape \(10,\)"):
        filt.process(np.zeros(10))


def test_non_finite_chunk_is_refused_without_touching_the_state() -> None:
    sfreq = 250.0
    x = eeg_like(600, 2, sfreq)
    sos = design_preprocessing(sfreq)
    filt = CausalFilter(sos, 2)
    first = filt.process(x[:300])
    bad = x[300:310].copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        filt.process(bad)
    rest = filt.process(x[300:])
    np.testing.assert_allclose(np.vstack([first, rest]), filter_offline(sos, x), atol=1e-9)


@pytest.mark.parametrize(
    ("sos", "match"),
    [
        (np.ones((2, 5)), r"shape \(n_sections, 6\), got shape \(2, 5\)"),
        (np.ones(6), r"got shape \(6,\)"),
        (np.array([[1.0, 0, 0, 2.0, 0, 0]]), r"sos\[:, 3\]"),
    ],
)
def test_bad_sos_raises(sos: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CausalFilter(sos, 2)


def test_sos_property_is_read_only() -> None:
    filt = CausalFilter(design_preprocessing(250.0), 1)
    with pytest.raises(ValueError):
        filt.sos[0, 0] = 0.0


def test_filter_offline_matches_scipy_with_steady_state_start() -> None:
    """Independent reference: scipy's sosfilt started at ``sosfilt_zi * x[0]``."""
    sfreq = 500.0
    x = eeg_like(2000, 4, sfreq)
    sos = design_preprocessing(sfreq)
    zi = signal.sosfilt_zi(sos)[:, :, np.newaxis] * x[0]
    expected, _ = signal.sosfilt(sos, x, axis=0, zi=zi)
    np.testing.assert_allclose(filter_offline(sos, x), expected, rtol=1e-12, atol=1e-9)

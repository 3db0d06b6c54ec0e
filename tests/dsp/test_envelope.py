"""Low-delay band envelope: exact chunking, amplitude, delay, accuracy on real EEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroadapt.dsp.bandpower import BandPower
from neuroadapt.dsp.envelope import (
    EnvelopeTracker,
    envelope_offline,
    ground_truth_envelope,
    lagged_correlation,
    measure_step_delay,
    step_signal,
)
from neuroadapt.dsp.filters import design_preprocessing, filter_offline

ALPHA = (8.0, 12.0)
METHODS = ["cfir", "demod"]


def noisy_alpha(n: int, sfreq: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, np.newaxis] / sfreq
    burst = 1.0 + np.sin(2 * np.pi * 0.3 * t)  # waxing and waning
    return 15 * burst * np.sin(2 * np.pi * 10.2 * t) + 8 * rng.standard_normal((n, 3))


@settings(max_examples=30, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=20),
)
def test_chunked_equals_whole_exactly(method: str, sizes: list[int]) -> None:
    data = noisy_alpha(2000, 250.0)
    whole = EnvelopeTracker(250.0, ALPHA, 3, method=method).process(data)
    tracker = EnvelopeTracker(250.0, ALPHA, 3, method=method)
    parts, start = [], 0
    for size in [*sizes, len(data)]:  # the last chunk takes whatever is left
        parts.append(tracker.process(data[start : start + size]))
        start += size
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sfreq", [160.0, 250.0, 500.0])
def test_sine_at_the_band_centre_gives_its_amplitude(method: str, sfreq: float) -> None:
    t = np.arange(int(6 * sfreq))[:, np.newaxis] / sfreq
    amplitudes = np.array([7.0, 30.0, 0.5])
    data = amplitudes * np.sin(2 * np.pi * 10.0 * t + np.array([0.0, 1.0, 2.5]))
    envelope = envelope_offline(sfreq, ALPHA, data, method=method)
    settled = envelope[int(3 * sfreq) :] / amplitudes
    assert np.all(np.abs(settled - 1.0) < 0.02), (settled.min(), settled.max())


def test_ground_truth_of_a_sine_is_its_amplitude() -> None:
    t = np.arange(2500)[:, np.newaxis] / 250.0
    truth = ground_truth_envelope(250.0, ALPHA, 12.0 * np.sin(2 * np.pi * 10.0 * t))
    np.testing.assert_allclose(truth[500:-500], 12.0, rtol=0.01)


def welch_step_delay(sfreq: float, seconds: float) -> float:
    """Step delay of Welch band power computed at every sample (window end as its time)."""
    x = step_signal(sfreq)
    bp = BandPower(sfreq, int(seconds * sfreq), {"alpha": ALPHA})
    power = bp.compute_sliding(x, 1)[:, 0, 0]
    t = (np.arange(power.size) + bp.n_window - 1) / sfreq  # newest sample of each window
    return measure_step_delay(t, power, 5.0)


@pytest.mark.parametrize("sfreq", [160.0, 500.0])
def test_envelopes_react_faster_than_welch(sfreq: float) -> None:
    welch = welch_step_delay(sfreq, 1.0)
    # A 1 s window reaches half its power change when the step is at its centre.
    assert welch == pytest.approx(0.5, abs=0.05)
    for method in METHODS:
        x = step_signal(sfreq)
        tracker = EnvelopeTracker(sfreq, ALPHA, 1, method=method)
        envelope = tracker.process(x)[:, 0]
        delay = measure_step_delay(np.arange(x.shape[0]) / sfreq, envelope, 5.0)
        assert delay < welch / 3, (method, delay, welch)
        assert delay == pytest.approx(tracker.delay, abs=0.03)


def test_nominal_delays() -> None:
    assert EnvelopeTracker(250.0, ALPHA, 1, method="cfir", delay=0.08).delay == 0.08
    demod = EnvelopeTracker(250.0, ALPHA, 1, method="demod")
    # Order-2 Butterworth at 2 Hz: group delay at 0 Hz is sqrt(2) / (2 pi 2 Hz) = 0.1125 s.
    assert demod.delay == pytest.approx(np.sqrt(2) / (2 * np.pi * 2.0), rel=0.01)
    slower = EnvelopeTracker(250.0, ALPHA, 1, method="demod", order=4)
    assert slower.delay > demod.delay


def test_refused_chunk_leaves_the_state_alone() -> None:
    data = noisy_alpha(600, 250.0)
    for method in METHODS:
        expected = EnvelopeTracker(250.0, ALPHA, 3, method=method).process(data)
        tracker = EnvelopeTracker(250.0, ALPHA, 3, method=method)
        first = tracker.process(data[:300])
        bad = data[300:350].copy()
        bad[10, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or Inf"):
            tracker.process(bad)
        np.testing.assert_array_equal(np.vstack([first, tracker.process(data[300:])]), expected)
        tracker.reset()
        np.testing.assert_array_equal(tracker.process(data), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"band": (8.0, 130.0)}, r"Nyquist \(125 Hz\)"),
        ({"band": (12.0, 8.0)}, r"0 < low < high"),
        ({"method": "hilbert"}, r"one of cfir, demod"),
        ({"n_taps": 20}, r"must exceed delay \* sfreq = 25"),
        ({"method": "demod", "order": 0}, r"order must be"),
        ({"delay": -0.1}, r"delay must be a finite number > 0"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"sfreq": 250.0, "band": ALPHA, "n_channels": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        EnvelopeTracker(args.pop("sfreq"), args.pop("band"), args.pop("n_channels"), **args)


def test_wrong_chunk_shape_raises() -> None:
    tracker = EnvelopeTracker(250.0, ALPHA, 2)
    with pytest.raises(ValueError, match=r"\(n_samples, 2\), got shape \(10, 3\)"):
        tracker.process(np.zeros((10, 3)))
    assert tracker.process(np.zeros((0, 2))).shape == (0, 2)


def test_measure_step_delay_on_a_known_ramp() -> None:
    t = np.arange(0.0, 10.0, 0.01)
    feature = np.clip((t - 5.2) / 0.4, 0.0, 1.0) * 3.0 + 1.0  # 1 -> 4, halfway at 5.4 s
    assert measure_step_delay(t, feature, 5.0) == pytest.approx(0.4)
    assert measure_step_delay(t, 5.0 - feature, 5.0) == pytest.approx(0.4)  # a fall
    assert measure_step_delay(t, feature, 5.0, levels=(1.0, 2.0)) == pytest.approx(0.2 + 0.4 / 6)
    with pytest.raises(ValueError, match="does not change"):
        measure_step_delay(t, np.ones_like(t), 5.0)


def test_lagged_correlation_finds_a_known_shift() -> None:
    reference = np.random.default_rng(0).standard_normal((500, 2)).cumsum(axis=0)
    estimate = np.roll(reference, 7, axis=0)
    assert lagged_correlation(estimate, reference, 7, skip=10) == pytest.approx(1.0)
    assert lagged_correlation(estimate, reference, 0, skip=10) < 1.0


def test_accuracy_on_eyes_closed_physionet(shared_eeg: Path) -> None:
    """Envelope of occipital alpha in PhysioNet EEGMMIDB S001R02 against the offline truth."""
    import mne

    raw = mne.io.read_raw_edf(
        shared_eeg / "physionet_eegmmidb" / "S001R02.edf", preload=True, verbose="error"
    )
    sfreq = raw.info["sfreq"]
    data = raw.get_data(picks=["O1..", "Oz..", "O2.."]).T * 1e6  # µV
    filtered = filter_offline(design_preprocessing(sfreq, 1.0, 60.0), data)  # US mains
    truth = ground_truth_envelope(sfreq, ALPHA, filtered)
    skip = int(2 * sfreq)  # filter settling and the reference's edge effects
    for method in METHODS:
        tracker = EnvelopeTracker(sfreq, ALPHA, 3, method=method)
        envelope = tracker.process(filtered)
        lag = round(tracker.delay * sfreq)
        # Allowing for its delay, the causal envelope follows the offline one closely.
        assert lagged_correlation(envelope, truth, lag, skip=skip) > 0.9, method
        # What a live loop sees (no allowance for the delay) is still close.
        assert lagged_correlation(envelope, truth, 0, skip=skip) > 0.7, method

"""The synthetic headset and its amplitude scripts (pure: no clock, no LSL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import welch

from neuroadapt.errors import ConfigError
from neuroadapt.sources import AmplitudeScript, ScriptStep, SyntheticHeadset, SyntheticSource

SFREQ = 250.0
OCCIPITAL = ("O1", "Oz", "O2")


def band_power(data: np.ndarray, lo: float, hi: float, sfreq: float = SFREQ) -> np.ndarray:
    """Mean Welch power in ``[lo, hi]`` Hz per channel of ``data`` (n_samples, n_channels)."""
    freqs, psd = welch(data, fs=sfreq, nperseg=int(2 * sfreq), axis=0)
    return psd[(freqs >= lo) & (freqs <= hi)].mean(axis=0)


def relative_power(data: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Power in ``[lo, hi]`` Hz over power in 1-40 Hz, per channel."""
    freqs, psd = welch(data, fs=SFREQ, nperseg=int(2 * SFREQ), axis=0)
    total = psd[(freqs >= 1) & (freqs <= 40)].sum(axis=0)
    return psd[(freqs >= lo) & (freqs <= hi)].sum(axis=0) / total


# ------------------------------------------------------------------ determinism
@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_chunk_partition_does_not_change_the_signal(chunks: list[int], seed: int) -> None:
    script = AmplitudeScript.preset("alpha-steps", duration=10.0)  # steps inside the window
    whole = SyntheticHeadset(seed=seed, script=script, counter=True).generate(sum(chunks))
    headset = SyntheticHeadset(seed=seed, script=script, counter=True)
    parts = np.concatenate([headset.generate(n) for n in chunks], axis=0)
    np.testing.assert_array_equal(parts, whole)
    assert headset.n_generated == sum(chunks)


def test_same_seed_same_signal_other_seed_other_signal() -> None:
    a = SyntheticHeadset(seed=7).generate(2000)
    b = SyntheticHeadset(seed=7).generate(2000)
    c = SyntheticHeadset(seed=8).generate(2000)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.dtype == np.float64 and a.shape == (2000, 8)


def test_counter_channel_holds_the_absolute_sample_index() -> None:
    headset = SyntheticHeadset(counter=True)
    assert headset.ch_names[-1] == "counter" and headset.n_channels == 9
    data = np.concatenate([headset.generate(n) for n in (1, 0, 249, 1000, 3)], axis=0)
    np.testing.assert_array_equal(data[:, -1], np.arange(1253))
    # Streamed as float32 the index stays exact (up to 2**24).
    np.testing.assert_array_equal(data[:, -1].astype(np.float32).astype(np.int64), np.arange(1253))


def test_zero_samples() -> None:
    headset = SyntheticHeadset()
    assert headset.generate(0).shape == (0, 8)
    with pytest.raises(ValueError, match="n must be >= 0"):
        headset.generate(-1)


# ---------------------------------------------------------------------- signal
def test_background_level_is_eeg_like() -> None:
    headset = SyntheticHeadset(
        ch_names=("X1", "X2", "X3", "X4"), line_freq=None, blinks=False, seed=3
    )
    rms = headset.generate(int(60 * SFREQ)).std(axis=0)
    assert np.all((rms > 7) & (rms < 25)), rms


def test_occipital_alpha_rises_through_the_alpha_steps_preset() -> None:
    duration = 100.0
    headset = SyntheticHeadset(seed=1, script=AmplitudeScript.preset("alpha-steps", duration))
    data = headset.generate(int(duration * SFREQ))
    occipital = [headset.ch_names.index(name) for name in OCCIPITAL]
    baseline = data[int(5 * SFREQ) : int(38 * SFREQ), occipital]  # inside the first 40 %
    top = data[int(90.5 * SFREQ) :, occipital]  # after the last step (90 %)
    before = relative_power(baseline, 8, 12).mean()
    after = relative_power(top, 8, 12).mean()
    assert after > 1.5 * before, (before, after)


def test_rhythms_follow_the_10_20_layout() -> None:
    names = ("Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2")

    def rhythm(band: str) -> np.ndarray:
        # Same seed, band on vs off: the difference is that band's oscillator alone.
        on = SyntheticHeadset(
            names, seed=2, script=AmplitudeScript([ScriptStep(at=0, **{band: 1})])
        )
        off = SyntheticHeadset(
            names, seed=2, script=AmplitudeScript([ScriptStep(at=0, **{band: 0})])
        )
        n = int(20 * SFREQ)
        return dict(zip(names, (on.generate(n) - off.generate(n)).std(axis=0), strict=True))

    alpha, theta, beta = rhythm("alpha"), rhythm("theta"), rhythm("beta")
    assert min(alpha["O1"], alpha["Oz"], alpha["O2"]) > alpha["Pz"] > alpha["Cz"] > alpha["Fz"]
    assert theta["Fz"] == max(theta.values())
    assert min(beta["C3"], beta["Cz"], beta["C4"]) > max(beta["Fz"], beta["Pz"], beta["Oz"])


def test_unknown_channel_names_get_background_only() -> None:
    names = ("Oz", "Fp1", "EMG1")
    n = int(20 * SFREQ)
    plain = SyntheticHeadset(names, seed=4, script=AmplitudeScript.preset("steady"), blinks=False)
    busy = SyntheticHeadset(names, seed=4, script=AmplitudeScript.preset("alpha-steps", 20))
    a, b = plain.generate(n), busy.generate(n)
    np.testing.assert_array_equal(a[:, 2], b[:, 2])  # script and blinks leave EMG1 alone
    assert not np.allclose(a[:, :2], b[:, :2])


def test_blinks_are_frontal() -> None:
    names = ("Fp1", "Fz", "Cz", "O1")
    n = int(60 * SFREQ)
    with_blinks = SyntheticHeadset(names, seed=5).generate(n)
    without = SyntheticHeadset(names, seed=5, blinks=False).generate(n)
    blink = with_blinks - without
    np.testing.assert_array_equal(blink[:, 2:], 0.0)  # nothing behind the frontal rows
    assert 100 <= blink[:, 0].max() <= 200  # Fp1 peak in µV
    assert 80 <= blink[:, 1].max() <= 160  # Fz a little less
    # About one blink every 4 s: count rising crossings of half the Fp1 peak height.
    above = blink[:, 0] > 50
    n_blinks = int(np.count_nonzero(above[1:] & ~above[:-1]))
    assert 5 <= n_blinks <= 30, n_blinks


@pytest.mark.parametrize(("line_freq", "present", "absent"), [(50.0, 50, 60), (60.0, 60, 50)])
def test_line_noise_peak_at_the_chosen_mains_frequency(
    line_freq: float, present: float, absent: float
) -> None:
    data = SyntheticHeadset(seed=6, line_freq=line_freq, blinks=False).generate(int(30 * SFREQ))
    assert np.all(_peak_ratio(data, present) > 3)
    assert np.all(_peak_ratio(data, absent) < 2)


def test_no_line_noise() -> None:
    data = SyntheticHeadset(seed=6, line_freq=None, blinks=False).generate(int(30 * SFREQ))
    assert np.all(_peak_ratio(data, 50) < 2)
    assert np.all(_peak_ratio(data, 60) < 2)


def _peak_ratio(data: np.ndarray, freq: float) -> np.ndarray:
    """Power at ``freq`` over the median power 1-5 Hz either side of it, per channel."""
    freqs, psd = welch(data, fs=SFREQ, nperseg=int(4 * SFREQ), axis=0)
    at = np.argmin(np.abs(freqs - freq))
    side = (np.abs(freqs - freq) >= 1) & (np.abs(freqs - freq) <= 5)
    return psd[at] / np.median(psd[side], axis=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sfreq": 10.0}, "sfreq: must be a number >= 64 Hz, got 10.0"),
        ({"line_freq": 200.0}, "line_freq: must be 0 (none) or between 0 and Nyquist (125 Hz)"),
        ({"ch_names": ("Fz", "Fz")}, "ch_names: duplicate labels Fz"),
        ({"ch_names": ("Fz", "counter"), "counter": True}, "'counter' is reserved"),
        ({"ch_names": "Fz,Cz"}, "must be a sequence of labels"),
        ({"seed": -1}, "seed: must be a non-negative integer"),
    ],
)
def test_bad_headset_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SyntheticHeadset(**kwargs)
    assert message in str(info.value)


def test_synthetic_source_paces_the_headset_on_a_clock() -> None:
    now = [100.0]
    source = SyntheticSource(SyntheticHeadset(counter=True), clock=lambda: now[0])
    data, ts = source.pull()  # sample 0 is due at the first pull
    assert data.shape == (1, 9) and ts.tolist() == [100.0]
    now[0] = 100.25  # samples 1..62 fall due (62.5 sample periods later)
    data, ts = source.pull()
    np.testing.assert_array_equal(data[:, -1], np.arange(1, 63))
    np.testing.assert_allclose(ts, 100.0 + np.arange(1, 63) / SFREQ)
    assert source.pull()[0].shape == (0, 9)
    expected = SyntheticHeadset(counter=True).generate(63)
    np.testing.assert_array_equal(data, expected[1:])


# ---------------------------------------------------------------------- scripts
def test_script_levels_steps_ramps_and_untouched_bands() -> None:
    script = AmplitudeScript(
        [
            ScriptStep(at=10.0, alpha=2.0),
            ScriptStep(at=20.0, alpha=4.0, theta=0.5, ramp=10.0),
            ScriptStep(at=25.0, alpha=1.0),  # interrupts the alpha ramp half-way
        ]
    )
    t = np.array([0.0, 9.99, 10.0, 15.0, 20.0, 22.5, 25.0, 30.0, 100.0])
    levels = script.at(t)
    np.testing.assert_allclose(levels["alpha"], [1, 1, 2, 2, 2, 2.5, 1, 1, 1])
    np.testing.assert_allclose(levels["theta"], [1, 1, 1, 1, 1, 0.875, 0.75, 0.5, 0.5])
    np.testing.assert_allclose(levels["beta"], np.ones(9))


def test_alpha_steps_preset_shape() -> None:
    duration = 300.0
    script = AmplitudeScript.preset("alpha-steps", duration)
    t = np.linspace(0, duration, 30001)
    alpha = script.at(t)["alpha"]
    assert np.all(alpha[t <= 0.4 * duration] == 1.0)  # baseline
    assert np.all(alpha[t >= 0.9 * duration] == 3.0)
    assert np.all(np.diff(alpha) >= 0)
    plateaus = sorted({round(v, 9) for v in alpha})
    assert {1.0, 1.5, 2.0, 2.5, 3.0} <= set(plateaus)
    np.testing.assert_array_equal(script.at(t)["theta"], 1.0)
    steady = AmplitudeScript.preset("steady").at(t)
    assert all(np.all(v == 1.0) for v in steady.values())


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown script preset 'alpha' \\(expected one of"):
        AmplitudeScript.preset("alpha")


def test_script_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "script.toml"
    path.write_text(
        "[[step]]\nat = 0\nalpha = 1.0\n\n[[step]]\nat = 30\nalpha = 2\nbeta = 0.5\nramp = 5\n"
    )
    script = AmplitudeScript.from_toml(path)
    assert script.steps[1] == ScriptStep(at=30.0, alpha=2.0, beta=0.5, ramp=5.0)
    np.testing.assert_allclose(script.at(np.array([32.5]))["alpha"], [1.5])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[step]]\nat = 0\nalpha = 1\n[[step]]\nat = 10\nalpha = 2\n"
            "[[step]]\nat = 5\nalpha = 3\n",
            "step[2].at: must be increasing (got 5 after 10)",
        ),
        (
            "[[step]]\nat = 0\nalpha = 1\nalpah = 2\n",
            "step[0]: unknown key 'alpah' (expected at, alpha, theta, beta, ramp)",
        ),
        ("[[step]]\nat = 0\nalpha = 'high'\n", "step[0].alpha: must be a number, got str"),
        ("[[step]]\nat = 0\nalpha = true\n", "step[0].alpha: must be a number, got bool"),
        ("[[step]]\nalpha = 2\n", "step[0].at: required"),
        ("[[step]]\nat = 3\n", "step[0]: sets none of alpha, theta, beta"),
        ("[[step]]\nat = 0\ntheta = -1\n", "step[0].theta: must be >= 0, got -1"),
        ("[[step]]\nat = 0\nbeta = 1\nramp = -2\n", "step[0].ramp: must be >= 0, got -2"),
        ("title = 'x'\n[[step]]\nat = 0\nbeta = 1\n", "unknown key 'title' (expected step)"),
        ("", "step: at least one [[step]] table is required"),
        ("step = 3\n", "step: must be an array of tables ([[step]])"),
        ("[[step]\nat = 0\n", "invalid TOML: "),
    ],
)
def test_script_errors_are_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "script.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        AmplitudeScript.from_toml(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_script_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "script.toml"
    path.write_text("[[step]]\nat = 0\nalpah = 2\n[[step]]\nat = 'soon'\nbeta = 1\n")
    with pytest.raises(ConfigError) as info:
        AmplitudeScript.from_toml(path)
    assert info.value.problems == [
        f"{path}: step[0]: unknown key 'alpah' (expected at, alpha, theta, beta, ramp)",
        f"{path}: step[0]: sets none of alpha, theta, beta",
        f"{path}: step[1].at: must be a number, got str",
    ]


def test_missing_script_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read the script: No such file"):
        AmplitudeScript.from_toml(path)

"""The comfort controller: glides, rate limits, hold and feedback, driven by arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroadapt.scene import SceneController, SceneManifest, SceneParameter, find_scene
from neuroadapt.scene.manifest import load_manifest


def make_manifest() -> SceneManifest:
    params = (
        SceneParameter("fog", "fog", (0.0, 1.0), 0.6, "", 0.15, 0.4),
        SceneParameter("temp", "colour temperature", (2000.0, 6500.0), 3000.0, "K", 500.0, 4000.0),
    )
    return SceneManifest("test", "Test", "", params, Path("scene.toml"))


def max_steps(ctrl: SceneController) -> np.ndarray:
    return np.array([p.max_rate for p in ctrl.manifest.parameters])


def run(ctrl: SceneController, dts, targets=None) -> np.ndarray:
    """Applied values after each step, shape (n_steps, n_params)."""
    out = []
    for i, dt in enumerate(dts):
        if targets is not None:
            ctrl.set_targets(targets[i])
        out.append(list(ctrl.step(dt).values()))
    return np.array(out)


def test_adversarial_square_wave_never_jumps():
    ctrl = SceneController(make_manifest(), time_constant=0.5)
    rng = np.random.default_rng(0)
    # Frames from 1 ms to 0.5 s (a stall); the target flips between the range
    # ends every few frames and sometimes overshoots them wildly.
    dts = rng.choice([0.001, 0.011, 0.016, 0.033, 0.1, 0.5], size=2000)
    targets = []
    for i in range(len(dts)):
        high = (i // int(rng.integers(1, 8))) % 2 == 0
        targets.append({"fog": 5.0 if high else -3.0, "temp": 1e6 if high else -1e6})
    start = np.array(list(ctrl.applied.values()))
    applied = run(ctrl, dts, targets)
    steps = np.abs(np.diff(np.vstack([start, applied]), axis=0))
    allowed = np.minimum(dts, ctrl.max_dt)[:, None] * max_steps(ctrl)
    assert np.all(steps <= allowed * (1 + 1e-12))
    assert np.all(applied[:, 0] >= 0.0) and np.all(applied[:, 0] <= 1.0)
    assert np.all(applied[:, 1] >= 2000.0) and np.all(applied[:, 1] <= 6500.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 10), st.floats(1e-4, 1.0)), min_size=1, max_size=60),
    st.floats(0.0, 3.0),
)
def test_rate_limit_holds_for_any_input(seq, tau):
    ctrl = SceneController(make_manifest(), time_constant=tau)
    prev = ctrl.applied["fog"]
    for target, dt in seq:
        ctrl.set_targets({"fog": target})
        now = ctrl.step(dt)["fog"]
        assert abs(now - prev) <= 0.15 * min(dt, ctrl.max_dt) + 1e-12
        assert 0.0 <= now <= 1.0
        prev = now


def test_converges_exactly_and_no_faster_than_the_rate_allows():
    ctrl = SceneController(make_manifest(), time_constant=0.5)
    ctrl.set_targets({"fog": 0.1, "temp": 6000.0})
    applied = run(ctrl, [1 / 60] * 60 * 30)
    t_fog = (np.argmax(applied[:, 0] == 0.1) + 1) / 60
    assert applied[-1].tolist() == [0.1, 6000.0]
    # 0.5 of range at 0.15/s needs at least 3.3 s; then the glide's exponential
    # tail takes over from rate * tau away until it snaps (1e-4 of the range).
    assert 0.5 / 0.15 <= t_fog < 0.5 / 0.15 + 0.5 * np.log(0.15 * 0.5 / 1e-4)
    assert np.all(np.diff(applied[:, 0]) <= 0) and np.all(np.diff(applied[:, 1]) >= 0)


def test_small_changes_follow_the_exponential_glide():
    ctrl = SceneController(make_manifest(), time_constant=0.5)
    ctrl.set_targets({"fog": 0.62})  # small: the rate limit never binds
    ctrl.step(0.5)  # capped to max_dt = 0.1
    ctrl2 = SceneController(make_manifest(), time_constant=0.5)
    ctrl2.set_targets({"fog": 0.62})
    ctrl2.step(0.1)
    expected = 0.6 + 0.02 * (1 - np.exp(-0.1 / 0.5))
    assert ctrl.applied["fog"] == pytest.approx(expected) == ctrl2.applied["fog"]


def test_hold_eases_to_a_stop_and_keeps_the_state():
    ctrl = SceneController(make_manifest(), time_constant=0.5)
    ctrl.set_targets({"fog": 0.0})
    run(ctrl, [1 / 60] * 60)  # moving down at full rate
    at_hold = ctrl.applied["fog"]
    ctrl.set_hold(True)
    ctrl.set_targets({"fog": 1.0})  # wishes during hold are kept for later
    applied = run(ctrl, [1 / 60] * 120)[:, 0]
    steps = np.diff(np.concatenate([[at_hold], applied]))
    assert np.all(steps <= 0)  # no reversal: it coasts on, slowing down
    assert np.all(np.abs(np.diff(steps)) <= 0.15 / 60 + 1e-12)  # and slows smoothly
    assert at_hold - applied[-1] <= 0.15 * 0.25 + 1e-9  # coasting stays short
    assert applied[-1] == applied[-30]  # then it stands still
    frozen = ctrl.applied
    run(ctrl, [1 / 60] * 60)
    assert ctrl.applied == frozen and ctrl.hold
    ctrl.set_hold(False)
    run(ctrl, [1 / 60] * 60)
    assert ctrl.applied["fog"] > frozen["fog"] + 0.1  # resumes toward the last wish


def test_feedback_off_glides_to_neutral_and_back():
    ctrl = SceneController(make_manifest())
    ctrl.set_targets({"fog": 1.0, "temp": 6500.0})
    ctrl.set_feedback(False)
    assert ctrl.goal == {"fog": 0.4, "temp": 4000.0}
    applied = run(ctrl, [0.05] * 400)
    assert applied[-1].tolist() == [0.4, 4000.0]
    assert np.all(np.abs(np.diff(applied[:, 0])) <= 0.15 * 0.05 + 1e-12)
    ctrl.set_feedback(True)
    assert ctrl.targets == {"fog": 1.0, "temp": 6500.0}
    run(ctrl, [0.05] * 400)
    assert ctrl.applied == {"fog": 1.0, "temp": 6500.0}


def test_unknown_and_invalid_values_are_ignored_and_counted():
    ctrl = SceneController(make_manifest())
    accepted = ctrl.set_targets({"fog": 0.2, "waves": 1.0, "wind": 3, "temp": None})
    assert accepted == 1
    accepted = ctrl.set_targets({"fog": float("nan"), "temp": "hot", "x": 1, "fog ": True})
    assert accepted == 0
    assert ctrl.unknown == 4 and ctrl.unknown_names == {"waves", "wind", "x", "fog "}
    assert ctrl.invalid == 3
    assert ctrl.targets == {"fog": 0.2, "temp": 3000.0}
    ctrl.set_targets({"fog": np.float32(7.0)})  # NumPy numbers are fine, clipped to range
    assert ctrl.targets["fog"] == 1.0


def test_degenerate_intervals_change_nothing():
    ctrl = SceneController(make_manifest())
    ctrl.set_targets({"fog": 0.0})
    before = ctrl.applied
    for dt in (0.0, -1.0, float("nan"), float("inf")):
        assert ctrl.step(dt) == before


def test_reset_jumps_before_anything_is_shown():
    ctrl = SceneController(make_manifest())
    ctrl.reset({"fog": 0.9})
    assert ctrl.applied == ctrl.targets == {"fog": 0.9, "temp": 3000.0}
    assert ctrl.step(0.1) == {"fog": 0.9, "temp": 3000.0}


def test_zero_time_constant_is_pure_rate_limit():
    # Without the flicker guard, which would make the hold below coast to a stop.
    ctrl = SceneController(make_manifest(), time_constant=0.0, flicker_guard=None)
    ctrl.set_targets({"fog": 0.0})
    assert ctrl.step(0.1)["fog"] == pytest.approx(0.6 - 0.015)
    ctrl.set_hold(True)
    held = ctrl.applied
    assert ctrl.step(0.1) == held  # nothing to coast on without a glide


@pytest.mark.parametrize(
    "kwargs", [{"time_constant": -1}, {"time_constant": float("nan")}, {"max_dt": 0}]
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SceneController(make_manifest(), **kwargs)


def test_lagoon_controller_starts_at_defaults_in_manifest_order():
    manifest = load_manifest(find_scene("lagoon"))
    ctrl = SceneController(manifest)
    assert list(ctrl.applied) == list(manifest.names)
    assert ctrl.applied == manifest.defaults()


# -- flicker guard ---------------------------------------------------------------------

FLICKER_BAND = (3.0, 30.0)


def band_peak_to_peak(x: np.ndarray, rate: float, band=FLICKER_BAND, seconds: float = 2.0) -> float:
    """Peak-to-peak of the largest sinusoid of ``x`` inside ``band`` (Hz).

    The last ``seconds`` (steady state) are analysed after removing a quadratic
    trend (a slow glide or turn) and with a Hann window (coherent gain 0.5),
    so that slow motion does not leak into the band.
    """
    n = int(round(seconds * rate))
    i = np.arange(n)
    seg = x[-n:] - np.polyval(np.polyfit(i, x[-n:], 2), i)
    spec = np.abs(np.fft.rfft(seg * np.hanning(n))) * 2 / (0.5 * n)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    sel = (freqs >= band[0]) & (freqs <= band[1])
    return float(2 * spec[sel].max())


def square(freq: float, t: np.ndarray) -> np.ndarray:
    return (np.floor(2 * freq * t) % 2 == 0).astype(float)


@pytest.mark.parametrize("freq", [3.0, 5.0, 10.0, 15.0, 25.0])
def test_flicker_guard_at_1khz_control_rate(freq):
    """A full-range square wave at 1 kHz control and step rate: < 1 % of range left in 3-30 Hz."""
    fast = SceneParameter("glow", "brightness", (0.0, 1.0), 0.5, "", 2.0, 0.5)  # a fast scene
    manifest = SceneManifest(
        "test", "Test", "", (*make_manifest().parameters, fast), Path("scene.toml")
    )
    rate = 1000.0
    t = np.arange(int(4 * rate)) / rate
    wave = square(freq, t)
    results = {}
    for guard in (None, 4.0):
        ctrl = SceneController(manifest, flicker_guard=guard)
        out = []
        for w in wave:
            ctrl.set_targets({"fog": w, "temp": 2000 + 4500 * w, "glow": w})
            out.append(list(ctrl.step(1 / rate).values()))
        out = np.array(out)
        spans = np.array([1.0, 4500.0, 1.0])
        results[guard] = [band_peak_to_peak(out[:, i], rate) / spans[i] for i in range(3)]
        # The rate limit holds either way.
        steps = np.abs(np.diff(out, axis=0))
        assert np.all(steps <= max_steps(ctrl) / rate * (1 + 1e-9))
    guarded = np.array(results[4.0])
    # Bound a / (8 f^2) with a = 4 min(max_rate, 0.15 span) per second; measured
    # about half of it (fog 0.43 % of range at 3 Hz, 0.04 % at 10 Hz).
    bound = 4 * np.array([0.15, 500.0 / 4500, 0.15]) / (8 * freq**2)
    assert np.all(guarded <= bound), (freq, guarded, bound)
    assert np.all(guarded < (0.01 if freq < 5 else 0.002)), guarded
    # Without the guard the fast parameter would follow with 1.6-13 % of its range.
    assert guarded[2] < 0.25 * results[None][2]


def test_flicker_guard_leaves_parameters_marked_not_luminance_alone():
    still = SceneParameter("speed", "wave speed", (0.0, 1.0), 0.5, "", 0.5, 0.5, luminance=False)
    ctrl = SceneController(SceneManifest("t", "T", "", (still,), Path("scene.toml")))
    ctrl.set_targets({"speed": 1.0})
    ctrl.step(0.1)
    ctrl.set_targets({"speed": 0.0})
    v0 = ctrl.applied["speed"]
    assert ctrl.step(0.1)["speed"] < v0  # turns at once: only the rate limit applies


def test_flicker_guard_limits_the_turn_and_keeps_the_rate_limit():
    ctrl = SceneController(make_manifest())
    ctrl.set_targets({"fog": 0.0})
    before = run(ctrl, [1 / 60] * 60)[:, 0]  # moving down at 0.15/s
    ctrl.set_targets({"fog": 1.0})
    applied = np.concatenate([before, run(ctrl, [1 / 60] * 120)[:, 0]])
    velocity = np.diff(applied) * 60
    assert velocity[58] == pytest.approx(-0.15)
    # Speed changes by at most 4 x 0.15 per second: it takes >= 0.5 s to turn round.
    assert np.all(np.abs(np.diff(velocity)) <= 0.6 / 60 + 1e-9)
    assert np.all(np.abs(velocity) <= 0.15 + 1e-9)
    assert np.argmax(velocity[59:] > 0.14) >= 0.5 * 60 - 1


# -- gentle exit -----------------------------------------------------------------------


def test_gentle_exit_eases_to_neutral_then_is_done():
    ctrl = SceneController(make_manifest())
    ctrl.reset({"fog": 1.0, "temp": 6500.0})
    ctrl.set_hold(True)  # ignored during the exit
    planned = ctrl.start_gentle_exit(10.0)
    assert planned == 10.0 and ctrl.exiting and not ctrl.exit_done
    ctrl.set_targets({"fog": 0.0})  # ignored too
    applied, done_at = [], None
    for i in range(60 * 12):
        applied.append(list(ctrl.step(1 / 60).values()))
        if ctrl.exit_done and done_at is None:
            done_at = (i + 1) / 60
    applied = np.array(applied)
    assert done_at == pytest.approx(10.0, abs=0.05)
    assert applied[-1].tolist() == [0.4, 4000.0]
    fog = applied[:, 0]
    assert np.all(np.diff(fog) <= 0)  # monotone, no overshoot
    t = np.arange(1, len(fog) + 1) / 60
    s = np.clip(t / 10.0, 0, 1)
    assert np.allclose(fog, 1.0 - 0.6 * s * s * (3 - 2 * s), atol=1e-3)  # the smoothstep
    speed = np.abs(np.diff(fog)) * 60
    assert speed[:6].max() < 0.01 and speed[590:600].max() < 0.01  # gentle at both ends
    assert np.all(speed <= 0.15 + 1e-9)


def test_gentle_exit_is_stretched_to_respect_the_rate_limit():
    ctrl = SceneController(make_manifest())
    ctrl.reset({"fog": 1.0})
    planned = ctrl.start_gentle_exit(0.5)  # 0.6 at 0.15/s needs 4 s, x 1.5 for the ease
    assert planned == pytest.approx(1.5 * 0.6 / 0.15)
    applied = run(ctrl, [1 / 60] * int(60 * (planned + 0.2)))
    assert ctrl.exit_done and applied[-1, 0] == 0.4
    assert np.all(np.abs(np.diff(applied[:, 0])) <= 0.15 / 60 + 1e-12)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "60"])
def test_gentle_exit_refuses_bad_durations(bad):
    with pytest.raises(ValueError, match="gentle exit duration"):
        SceneController(make_manifest()).start_gentle_exit(bad)

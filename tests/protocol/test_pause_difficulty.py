"""Pause, resume and difficulty in the protocol engine (pure: no sockets, no clock)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.protocol.helpers import engine_for

HOP = 0.25


def text(*, bounds: str = "bounds = [-1.0, 3.0], ", second: str = "") -> str:
    return f"""
format = 2
[protocol]
name = "t"
[[features]]
name = "x"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
[[features]]
name = "y"
kind = "band_power"
band = [4, 8]
channels = ["O1"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
instructions = "Eyes open, relax."
[[phases]]
name = "training"
kind = "training"
duration = 20
[reward]
min_dwell = 0.5
[[reward.conditions]]
feature = "x"
threshold = {{ kind = "adaptive", percentile = 50, target_rate = 0.5, {bounds}step = 0.5, interval = 1.0 }}
{second}
[[mappings]]
feature = "x"
parameter = "fog_density"
smoothing = 0
"""


BELOW = """[[reward.conditions]]
feature = "y"
direction = "below"
threshold = { kind = "percentile", percentile = 50, bounds = [0.0, 2.0] }
"""


def steps(engine, t_from: float, t_to: float, x=lambda t: 0.0, y=lambda t: 0.0):
    """Step every hop in (t_from, t_to] with features x(t), y(t)."""
    out = []
    for t in np.arange(t_from + HOP, t_to + HOP / 2, HOP):
        out.append(engine.step({"x": x(t), "y": y(t)}, float(t)))
    return out


def events(engine) -> list:
    return engine.pop_markers()


def test_pause_stops_the_phase_clock_and_learns_nothing():
    eng = engine_for(text())
    eng.start(0.0)
    rng = np.random.default_rng(1)
    steps(eng, 0.0, 5.0, x=lambda t: rng.normal())
    eng.pause(5.0, "console")
    paused = steps(eng, 5.0, 8.0, x=lambda t: 1000.0)  # would ruin the baseline
    assert all(c.hold and c.paused and c.hold_reason == "paused" for c in paused)
    assert {c.phase_elapsed for c in paused} == {5.0}
    assert eng.progress(8.0)["phase_remaining"] == 5.0 and eng.paused
    eng.resume(8.0, "console")
    after = steps(eng, 8.0, 13.5, x=lambda t: rng.normal())
    marks = events(eng)
    pause = next(m for m in marks if m.event == "pause")
    resume = next(m for m in marks if m.event == "resume")
    assert (pause.t, pause.data) == (5.0, {"source": "console"})
    assert (resume.t, resume.data) == (8.0, {"source": "console", "paused": 3.0})
    # The baseline ends 3 s later than scheduled, and learned only unpaused windows.
    end = next(m for m in marks if m.event == "phase_end")
    assert end.t == 13.0
    calib = next(m for m in marks if m.event == "calibration")
    assert calib.data["features"]["x"]["n"] == 39  # as without the pause: 10 s at 4 windows/s
    assert abs(calib.data["features"]["x"]["mean"]) < 1.0
    assert after[-1].phase == "training" and not after[-1].paused


def test_no_reward_or_adaptation_while_paused_and_scene_keeps_still():
    eng = engine_for(text())
    eng.start(0.0)
    rng = np.random.default_rng(2)
    steps(eng, 0.0, 10.0, x=lambda t: rng.normal())
    before = steps(eng, 10.0, 14.0, x=lambda t: 5.0)  # far above: rewarded
    assert before[-1].reward
    events(eng)
    eng.pause(14.0)
    paused = steps(eng, 14.0, 20.0, x=lambda t: 5.0 + math.sin(t))
    marks = events(eng)
    assert [m.event for m in marks] == ["reward_end", "pause"]
    assert marks[0].t == 14.0
    assert not any(c.reward or c.reward_rule for c in paused)
    assert {c.params["fog_density"] for c in paused} == {before[-1].params["fog_density"]}
    rate = eng.reward_rate
    eng.resume(20.0)
    resumed = steps(eng, 20.0, 23.0, x=lambda t: 5.0)
    assert resumed[-1].reward and not resumed[-1].hold
    assert any(m.event == "threshold" for m in events(eng))  # adaptation goes on after
    assert rate is not None and 0 < rate <= 1


def test_pause_and_resume_refused_when_they_do_not_apply():
    eng = engine_for(text())
    with pytest.raises(RuntimeError, match="not started"):
        eng.pause(0.0)
    eng.start(0.0)
    with pytest.raises(RuntimeError, match="not paused"):
        eng.resume(1.0)
    eng.pause(1.0)
    with pytest.raises(RuntimeError, match="already paused"):
        eng.pause(2.0)
    eng.resume(2.0)
    steps(eng, 2.0, 31.0)  # 30 s of protocol + 1 s paused: the end
    assert eng.finished
    with pytest.raises(RuntimeError, match="ended"):
        eng.pause(31.5)


def test_difficulty_sets_thresholds_within_bounds_mirrored_below():
    eng = engine_for(text(second=BELOW))
    assert eng.adjustable
    eng.start(0.0)
    rng = np.random.default_rng(3)
    steps(eng, 0.0, 11.0, x=lambda t: rng.normal(), y=lambda t: rng.normal())
    eng.set_difficulty(0.25, 11.0, "console")
    assert eng.thresholds == [pytest.approx(-1.0 + 0.25 * 4.0), pytest.approx(2.0 - 0.25 * 2.0)]
    assert eng.difficulty == pytest.approx(0.25)
    mark = [m for m in events(eng) if m.event == "difficulty"][-1]
    assert mark.t == 11.0 and mark.data["value"] == 0.25 and mark.data["source"] == "console"
    eng.set_difficulty(1.0, 11.0)
    assert eng.thresholds == [3.0, 0.0]  # hardest: highest bar above, lowest below
    assert eng.difficulty == 1.0


def test_difficulty_before_calibration_outlives_it_and_adaptation_goes_on():
    eng = engine_for(text())
    eng.start(0.0)
    eng.set_difficulty(0.5, 0.0)
    rng = np.random.default_rng(4)
    steps(eng, 0.0, 10.25, x=lambda t: rng.normal())
    calib = next(m for m in events(eng) if m.event == "calibration")
    assert calib.data["thresholds"][0]["threshold"] == pytest.approx(1.0)
    steps(eng, 10.25, 16.0, x=lambda t: 10.0)  # always rewarded: the bar rises
    assert eng.thresholds[0] > 1.0 and eng.difficulty > 0.5


def test_difficulty_refused_without_bounds_naming_the_condition():
    no_bounds = BELOW.replace(", bounds = [0.0, 2.0]", "")
    eng = engine_for(text(second=no_bounds))
    assert not eng.adjustable and eng.difficulty is None
    with pytest.raises(ValueError, match=r"reward condition 2 \(y below\).*'bounds'"):
        eng.check_difficulty(0.5)
    eng2 = engine_for(text())
    for bad in (-0.1, 1.5, float("nan"), "hard", True):
        with pytest.raises(ValueError, match="difficulty"):
            eng2.check_difficulty(bad)


def test_instructions_and_remaining_time_in_progress():
    eng = engine_for(text())
    assert eng.progress(0.0)["phase"] is None
    eng.start(100.0)
    steps(eng, 100.0, 104.0)
    p = eng.progress(104.0)
    assert p["phase"] == "baseline" and p["instructions"] == "Eyes open, relax."
    assert (p["phase_elapsed"], p["phase_remaining"]) == (4.0, 6.0)

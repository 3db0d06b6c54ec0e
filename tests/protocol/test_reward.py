"""The reward rule: adaptive threshold, hysteresis and dwell, as properties."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.helpers import drive, engine_for, reward_episodes

HOP = 0.25
BASELINE_WINDOWS = 120  # 30 s baseline at 4 windows/s

# Windows the adaptive threshold is given to converge from a start far from the
# answer (the 5th or 95th baseline percentile): 400 windows, 100 s at a 0.25 s
# hop. Measured with the defaults (step 1.0, interval 2 s) on unit-normal input,
# targets 0.3/0.6/0.8, 10 seeds each: the rate over any 200 windows is within
# 5 pp of the target from window 50 on, and over windows 400-1200 it is within
# 0.5 pp. The rate is asserted over the 800 windows after the first 400.
CONVERGE_WINDOWS = 400
MEASURE_WINDOWS = 800


def adaptive_text(
    target: float,
    start_pct: float,
    dwell: float = 0.5,
    hysteresis: float = 0.1,
    bounds: tuple[float, float] = (-3.0, 3.0),
    training: float = 2000.0,
) -> str:
    return f"""
format = 2
[protocol]
name = "t"
[[features]]
name = "x"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = {BASELINE_WINDOWS * HOP}
[[phases]]
name = "training"
kind = "training"
duration = {training}
[reward]
min_dwell = {dwell}
[[reward.conditions]]
feature = "x"
hysteresis = {hysteresis}
threshold = {{ kind = "adaptive", percentile = {start_pct}, target_rate = {target}, bounds = [{bounds[0]}, {bounds[1]}] }}
"""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    target=st.sampled_from([0.3, 0.5, 0.6, 0.7, 0.8]),
    start=st.sampled_from([5, 95]),
    mean=st.floats(-5, 5),
    scale=st.floats(0.1, 10),
)
def test_adaptive_threshold_reaches_target_rate_on_stationary_input(
    seed, target, start, mean, scale
):
    rng = np.random.default_rng(seed)
    n = BASELINE_WINDOWS + CONVERGE_WINDOWS + MEASURE_WINDOWS
    x = mean + scale * rng.standard_normal(n)
    controls = drive(engine_for(adaptive_text(target, start)), {"x": x}, hop=HOP)
    measured = controls[BASELINE_WINDOWS + CONVERGE_WINDOWS :]
    rate = np.mean([c.reward_rule for c in measured])
    assert abs(rate - target) <= 0.05, rate


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    drift=st.floats(-3, 3),
    lo=st.floats(-2.0, -0.5),
    hi=st.floats(0.5, 2.0),
)
def test_adaptive_threshold_stays_within_bounds_and_tracks_slow_drift(seed, drift, lo, hi):
    rng = np.random.default_rng(seed)
    n_train = 4000
    base = rng.standard_normal(BASELINE_WINDOWS)
    # After the baseline the mean drifts by `drift` sd over 1000 s of training.
    train = np.linspace(0, drift, n_train) + rng.standard_normal(n_train)
    eng = engine_for(adaptive_text(0.6, 50, bounds=(lo, hi)))
    controls = drive(eng, {"x": np.concatenate([base, train])}, hop=HOP)
    thresholds = [m.data["threshold"] for m in eng.pop_markers() if m.event == "threshold"]
    assert thresholds and all(lo <= v <= hi for v in thresholds)
    # While the threshold is inside its bounds (the drift has not carried the target
    # threshold past them) each 100 s block is rewarded 60 % +- 10 pp of the time.
    rewards = np.array([c.reward_rule for c in controls[BASELINE_WINDOWS:]], dtype=float)
    for k in range(1, n_train // 400):
        block_mean = np.linspace(0, drift, n_train)[k * 400 : (k + 1) * 400]
        target_thr = block_mean + np.array([-0.2533])  # 40th percentile of N(m, 1)
        if lo + 0.3 < target_thr.min() and target_thr.max() < hi - 0.3:
            assert abs(rewards[k * 400 : (k + 1) * 400].mean() - 0.6) <= 0.1


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-5, 5), min_size=10, max_size=400),
    holds=st.lists(st.booleans(), min_size=400, max_size=400),
    dwell=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    hyst=st.floats(0, 1),
    threshold=st.floats(-1, 1),
)
def test_no_reward_shorter_than_the_dwell_whatever_the_input(values, holds, dwell, hyst, threshold):
    text = f"""
format = 2
[protocol]
name = "t"
[[features]]
name = "x"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 2
[[phases]]
name = "training"
kind = "training"
duration = 30
[[phases]]
name = "transfer"
kind = "transfer"
duration = 30
[reward]
min_dwell = {dwell}
[[reward.conditions]]
feature = "x"
scale = "raw"
hysteresis = {hyst}
threshold = {{ kind = "fixed", value = {threshold} }}
"""
    eng = engine_for(text)
    artifacts = [("blink",) if h else () for h in holds[: len(values)]]
    controls = drive(eng, {"x": values}, artifacts=artifacts)
    # Episodes still running at the last window have not ended yet.
    for on, off in reward_episodes(controls):
        assert off - on >= dwell - 1e-9
    markers = eng.pop_markers()
    for m in markers:
        if m.event == "reward_end":
            assert m.data["duration"] >= dwell - 1e-9

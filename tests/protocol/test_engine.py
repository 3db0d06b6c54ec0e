"""The protocol engine, driven by feature arrays (no sockets, no clock)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroadapt.protocol import LoadedProtocol, ProtocolEngine, parse_protocol

TEXT = """
[protocol]
name = "t"
[signal]
hop = 0.25
[[features]]
name = "alpha"
kind = "relative_band_power"
band = [8, 12]
total = [1, 40]
channels = ["O1"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
[[phases]]
name = "training"
kind = "training"
duration = 20
[[mappings]]
feature = "alpha"
parameter = "fog_density"
input = [-2, 2]
invert = true
smoothing = 0
[[mappings]]
feature = "alpha"
parameter = "light_warmth"
input = [-2, 2]
output = [0.2, 0.8]
smoothing = 2.0
"""


def make_engine(text: str = TEXT) -> ProtocolEngine:
    p = parse_protocol(text)
    loaded = LoadedProtocol(
        p,
        None,
        text,
        "0" * 64,  # type: ignore[arg-type]
        outputs={"fog_density": (0.0, 1.0), "light_warmth": (0.2, 0.8)},
        initial={"fog_density": 0.6, "light_warmth": 0.5},
    )
    return ProtocolEngine(loaded)


def run(engine: ProtocolEngine, values, t0: float = 100.0, hop: float = 0.25):
    engine.start(t0)
    out = []
    for i, v in enumerate(values):
        out.append(engine.step({"alpha": v}, t0 + (i + 1) * hop))
    return out


def test_phases_markers_and_calibration():
    rng = np.random.default_rng(0)
    base = 0.3 + 0.05 * rng.standard_normal(40)  # 10 s of baseline at 4 windows/s
    train = np.full(90, 0.5)
    eng = make_engine()
    ctls = run(eng, np.r_[base, train])
    markers = eng.pop_markers()
    events = [m.event for m in markers]
    assert events == [
        "session_start",
        "phase_start",
        "phase_end",
        "calibration",
        "phase_start",
        "phase_end",
        "session_end",
    ]
    assert [m.t for m in markers if m.event.startswith("phase")] == [100, 110, 110, 130]
    calib = next(m for m in markers if m.event == "calibration").data["features"]["alpha"]
    # The window ending exactly at t=110 already belongs to training.
    learned = base[:39]
    assert calib["n"] == 39
    assert calib["mean"] == pytest.approx(learned.mean(), rel=1e-12)
    assert calib["std"] == pytest.approx(learned.std(ddof=1), rel=1e-12)
    assert ctls[0].phase == "baseline" and not ctls[0].feedback
    assert ctls[50].phase == "training" and ctls[50].feedback
    assert ctls[-1].end and ctls[-1].phase == "end"
    assert eng.finished


def test_feedback_off_in_baseline_then_mapping_moves_the_right_way():
    eng = make_engine()
    base = np.r_[np.full(20, 0.25), np.full(20, 0.35)]  # mean 0.3, std ~0.05
    ctls = run(eng, np.r_[base, np.full(20, 0.3), np.full(20, 0.45), np.full(20, 0.15)])
    for c in ctls[:39]:
        assert c.params["fog_density"] == 0.6  # held at the scene's starting value
    mid, high, low = ctls[55], ctls[75], ctls[95]
    # invert: more alpha, less fog; no smoothing on fog_density
    assert high.params["fog_density"] < mid.params["fog_density"] < low.params["fog_density"]
    assert high.params["fog_density"] == 0.0 and low.params["fog_density"] == 1.0
    # not inverted and limited to its output range
    assert (
        0.2
        <= low.params["light_warmth"]
        < mid.params["light_warmth"]
        < high.params["light_warmth"]
        <= 0.8
    )
    assert high.normalised["alpha"] > 2


def test_smoothing_time_constant():
    eng = make_engine()
    base = np.r_[np.full(20, 0.25), np.full(20, 0.35)]
    ctls = run(eng, np.r_[base, np.full(80, 10.0)])  # saturating input: target 0.8
    start = ctls[39].params["light_warmth"]
    # 2 s time constant at 4 windows/s: after 8 windows 63 % of the way
    after_tau = ctls[39 + 8].params["light_warmth"]
    frac = (after_tau - start) / (0.8 - start)
    assert frac == pytest.approx(1 - math.exp(-1), abs=0.02)
    assert ctls[-1].params["light_warmth"] == pytest.approx(0.8, abs=1e-3)


def test_invalid_windows_hold_and_are_not_learned():
    eng = make_engine()
    vals = np.r_[
        np.full(10, 0.3),
        np.full(5, np.nan),
        np.full(25, 0.3),
        np.full(10, 0.6),
        np.full(5, np.nan),
        np.full(10, 0.6),
    ]
    vals[30] = 0.4  # some spread in the baseline
    ctls = run(eng, vals)
    markers = eng.pop_markers()
    assert [m.event for m in markers].count("hold_start") == 2
    assert [m.event for m in markers].count("hold_end") == 2
    calib = next(m for m in markers if m.event == "calibration").data["features"]["alpha"]
    assert calib["n"] == 34  # 39 baseline windows minus the 5 held
    held = ctls[50:55]
    assert all(c.hold for c in held)
    assert len({c.params["fog_density"] for c in held}) == 1
    assert held[0].params == ctls[49].params


def test_same_input_same_output_bit_for_bit():
    rng = np.random.default_rng(1)
    vals = 0.3 + 0.1 * rng.standard_normal(120)
    vals[rng.integers(0, 120, 10)] = np.nan
    a = [c.to_message() for c in run(make_engine(), vals)]
    b = [c.to_message() for c in run(make_engine(), vals)]
    assert a == b


def test_degenerate_baseline_is_flagged_not_divided_by_zero():
    eng = make_engine()
    ctls = run(eng, np.full(60, 0.3))
    calib = next(m for m in eng.pop_markers() if m.event == "calibration")
    assert calib.data["features"]["alpha"]["degenerate"] is True
    assert all(math.isfinite(c.normalised["alpha"]) for c in ctls[45:])


def test_time_must_not_go_backwards_and_start_once():
    eng = make_engine()
    eng.start(0.0)
    eng.step({"alpha": 0.3}, 1.0)
    with pytest.raises(ValueError, match="backwards"):
        eng.step({"alpha": 0.3}, 0.5)
    with pytest.raises(RuntimeError):
        eng.start(2.0)
    with pytest.raises(RuntimeError):
        make_engine().step({"alpha": 0.3}, 0.0)


def test_a_gap_crosses_several_phases_with_every_marker():
    eng = make_engine()
    eng.start(0.0)
    eng.step({"alpha": 0.3}, 1.0)
    ctl = eng.step({"alpha": 0.3}, 50.0)  # the stream came back after the end
    assert ctl.end
    events = [m.event for m in eng.pop_markers()]
    assert events[-4:] == ["calibration", "phase_start", "phase_end", "session_end"]


def test_control_message_is_json_safe():
    import json

    eng = make_engine()
    eng.start(0.0)
    msg = eng.step({"alpha": float("nan")}, 0.25).to_message()
    json.dumps(msg, allow_nan=False)
    assert msg["features"]["alpha"] is None and msg["hold"] is True

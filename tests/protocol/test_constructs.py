"""Each construct of protocol format 2, driven by feature arrays (no sockets)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.protocol import load_protocol
from neuroadapt.protocol.engine import ProtocolEngine, expand_schedule
from neuroadapt.protocol.sham import load_sham, sham_from_table
from tests.protocol.helpers import drive, engine_for

HEAD = """
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
"""
PHASES = """
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
[[phases]]
name = "training"
kind = "training"
duration = 10
"""


def events(eng: ProtocolEngine, name: str) -> list:
    return [m for m in eng.pop_markers() if m.event == name]


def test_repeats_and_seeded_shuffle_are_deterministic():
    text = (
        "seed = 3\n"
        + HEAD
        + """
[[phases]]
name = "baseline"
kind = "baseline"
duration = 5
[[phases]]
name = "training"
kind = "training"
duration = 5
repeat = 3
group = "g"
[[phases]]
name = "transfer"
kind = "transfer"
duration = 5
repeat = 2
group = "g"
"""
    )
    eng = engine_for(text)
    order = [(r.phase.name, r.repeat) for r in eng.schedule]
    assert order[0] == ("baseline", 0) and len(order) == 6
    assert sorted(order[1:]) == [
        ("training", 0),
        ("training", 1),
        ("training", 2),
        ("transfer", 0),
        ("transfer", 1),
    ]
    assert order == [(r.phase.name, r.repeat) for r in engine_for(text).schedule]
    orders = {
        tuple(r.phase.name for r in expand_schedule(eng.protocol.model_copy(update={"seed": s})))
        for s in range(20)
    }
    assert len(orders) > 1  # the seed matters
    drive(eng, {"x": np.ones(130), "y": np.ones(130)}, hop=0.25)
    starts = events(eng, "phase_start")
    assert [(m.data["phase"], m.data["repeat"]) for m in starts] == order
    assert [m.t for m in starts] == [5.0 * k for k in range(6)]
    assert eng.finished


def test_transfer_hides_feedback_but_computes_and_marks_rewards():
    text = (
        HEAD
        + PHASES.replace(
            'name = "training"\nkind = "training"', 'name = "transfer"\nkind = "transfer"'
        )
        + """
[reward]
min_dwell = 0
[[reward.conditions]]
feature = "x"
scale = "raw"
threshold = { kind = "fixed", value = 1.0 }
[[mappings]]
feature = "x"
parameter = "fog_density"
smoothing = 0
"""
    )
    eng = engine_for(text)
    x = np.r_[np.zeros(40), np.full(40, 2.0)]
    ctl = drive(eng, {"x": x, "y": x})
    transfer = ctl[40:79]
    assert all(not c.feedback and not c.reward for c in transfer)
    assert all(c.reward_rule for c in transfer)
    assert all(c.params["fog_density"] == 0.5 for c in transfer)  # neutral
    msg = transfer[0].to_message()
    assert msg["reward"] is False and msg["reward_rule"] is True
    (start,) = events(eng, "reward_start")
    assert start.data == {"phase": "transfer", "feedback": False}


@pytest.mark.parametrize(
    ("method", "x"),
    [
        ("zscore", 3.0),
        ("percentile", 2.0),
        ("robust_minmax", 3.0),
    ],
)
def test_normalisation_methods(method, x):
    text = HEAD + PHASES + f'[normalisation]\nmethod = "{method}"\npercentiles = [0, 100]\n'
    eng = engine_for(text)
    base = np.array([1.0, 2.0, 3.0] * 13 + [1.0])  # 40 windows = 10 s
    drive(eng, {"x": np.r_[base, [x]], "y": np.r_[base, [x]]})
    norm = eng.normalise({"x": x, "y": x})["x"]
    learnt = base[:39]  # the window ending at 10 s belongs to training
    if method == "zscore":
        assert norm == pytest.approx((x - learnt.mean()) / learnt.std(ddof=1))
    elif method == "percentile":
        assert norm == pytest.approx(np.mean(learnt <= 2.0))
        assert eng.normalise({"x": 0.0})["x"] == 0.0
        assert eng.normalise({"x": 9.0})["x"] == 1.0
    else:
        assert norm == pytest.approx((3.0 - 1.0) / (3.0 - 1.0))
        assert eng.normalise({"x": 2.0})["x"] == pytest.approx(0.5)
    (cal,) = events(eng, "calibration")
    assert cal.data["method"] == method


def reward_text(rule: str) -> str:
    return HEAD + PHASES + rule


def test_fixed_threshold_hysteresis_holds_the_reward_through_a_dip():
    text = reward_text("""
[reward]
min_dwell = 0
[[reward.conditions]]
feature = "x"
scale = "raw"
hysteresis = 0.5
threshold = { kind = "fixed", value = 1.0 }
""")
    x = np.r_[np.zeros(40), [1.2, 0.7, 1.1, 0.4, 0.9]]
    ctl = drive(engine_for(text), {"x": x, "y": x})
    assert [c.reward_rule for c in ctl[40:]] == [True, True, True, False, False]


def test_percentile_threshold_and_any_all():
    rule = """
[reward]
combine = "{combine}"
min_dwell = 0
[[reward.conditions]]
feature = "x"
threshold = {{ kind = "percentile", percentile = 80 }}
[[reward.conditions]]
feature = "y"
direction = "below"
threshold = {{ kind = "percentile", percentile = 20 }}
"""
    base = np.arange(40, dtype=float)
    x = np.r_[base, [39.0, 39.0, 0.0, 20.0]]
    y = np.r_[base, [39.0, 0.0, 0.0, 20.0]]
    got = {}
    for combine in ("all", "any"):
        eng = engine_for(reward_text(rule.format(combine=combine)))
        ctl = drive(eng, {"x": x, "y": y})
        got[combine] = [c.reward_rule for c in ctl[40:]]
        cal = next(m for m in eng.pop_markers() if m.event == "calibration")
        thr = cal.data["thresholds"]
        learnt = base[:39]
        assert thr[0]["threshold"] == pytest.approx(
            (np.percentile(learnt, 80) - learnt.mean()) / learnt.std(ddof=1)
        )
    assert got["all"] == [False, True, False, False]
    assert got["any"] == [True, True, True, False]


def test_adaptive_threshold_updates_are_marked_and_bounded():
    text = reward_text("""
[reward]
min_dwell = 0
[[reward.conditions]]
feature = "x"
threshold = { kind = "adaptive", value = 0.0, target_rate = 0.5, bounds = [-0.5, 0.5], interval = 1.0 }
""")
    eng = engine_for(text)
    rng = np.random.default_rng(1)
    x = np.r_[rng.standard_normal(40), np.full(40, 5.0)]  # always above: it gets harder
    drive(eng, {"x": x, "y": x})
    ups = events(eng, "threshold")
    assert len(ups) == 9  # one per second of training
    values = [m.data["threshold"] for m in ups]
    assert values == sorted(values) and values[-1] == 0.5
    assert ups[0].data["rate"] == 1.0 and ups[0].data["target"] == 0.5


def test_curves_invert_and_reward_mapping():
    text = reward_text("""
[reward]
min_dwell = 0
[[reward.conditions]]
feature = "x"
scale = "raw"
threshold = { kind = "fixed", value = 1.0 }
[[mappings]]
feature = "x"
parameter = "fog_density"
scale = "raw"
input = [0.0, 2.0]
curve = "sigmoid"
smoothing = 0
[[mappings]]
feature = "x"
parameter = "light_warmth"
scale = "raw"
input = [0.0, 2.0]
curve = "step"
invert = true
smoothing = 0
[[mappings]]
feature = "reward"
parameter = "sun_height"
smoothing = 0
[[mappings]]
feature = "x"
parameter = "water_calm"
scale = "raw"
input = [0.0, 2.0]
smoothing = 0
""")
    x = np.r_[np.zeros(40), [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]]
    ctl = drive(engine_for(text), {"x": x, "y": x})[40:]
    fog = [c.params["fog_density"] for c in ctl]
    assert fog[0] == pytest.approx(0.0) and fog[2] == pytest.approx(0.5)
    assert fog[4] == pytest.approx(1.0) and fog[5] == 1.0
    assert fog[1] < 0.25 and fog[3] > 0.75  # steeper than linear in the middle
    assert [c.params["light_warmth"] for c in ctl] == [1, 1, 0, 0, 0, 0]
    assert [c.params["sun_height"] for c in ctl] == [0, 0, 1, 1, 1, 1]
    assert [c.params["water_calm"] for c in ctl] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1])


def test_artifact_policy_picks_detectors_and_what_the_scene_does():
    mapping = """
[[mappings]]
feature = "x"
parameter = "fog_density"
scale = "raw"
input = [0, 1]
smoothing = 0
"""
    x = np.r_[np.zeros(40), np.ones(4)]
    arts = [()] * 41 + [("blink",), ("line_noise",), ("emg",)]
    ctl = drive(
        engine_for(HEAD + PHASES + mapping + '[artifacts]\nhold_on = ["emg"]\n'),
        {"x": x, "y": x},
        artifacts=arts,
    )
    assert [c.hold for c in ctl[40:]] == [False, False, False, True]
    assert ctl[43].params["fog_density"] == 1.0  # held where it was
    ctl = drive(engine_for(HEAD + PHASES + mapping), {"x": x, "y": x}, artifacts=arts)
    assert [c.hold for c in ctl[40:]] == [False, True, False, True]  # default: all but mains
    text = (
        HEAD
        + PHASES
        + mapping.replace("smoothing = 0", "smoothing = 0")
        + '[artifacts]\nwhile_held = "neutral"\n'
    )
    ctl = drive(engine_for(text), {"x": x, "y": x}, artifacts=arts)
    assert ctl[41].params["fog_density"] == 0.5  # back to the scene's neutral value


def test_line_noise_cannot_hold():
    from neuroadapt.errors import ProtocolError
    from neuroadapt.protocol import parse_protocol

    with pytest.raises(ProtocolError, match="line_noise never holds"):
        parse_protocol(HEAD + PHASES + '[artifacts]\nhold_on = ["line_noise"]\n')


def test_iaf_is_measured_in_the_baseline_and_recorded():
    text = HEAD.replace("band = [8, 12]", "iaf_band = [-2, 2]") + PHASES
    freqs = np.arange(0, 40.5, 0.5)
    psd = 1 / (1 + freqs) + 5 * np.exp(-0.5 * ((freqs - 11.0) / 0.7) ** 2)
    eng = engine_for(text)
    eng.start(0.0)
    for i in range(44):
        eng.step({"x": 1.0 + i % 3, "y": 1.0}, (i + 1) * 0.25, spectrum=(freqs, psd))
    (cal,) = events(eng, "calibration")
    assert cal.data["iaf"]["found"] and cal.data["iaf"]["frequency"] == pytest.approx(11, abs=0.2)
    assert eng.iaf == cal.data["iaf"]["frequency"]
    eng = engine_for(text)
    drive(eng, {"x": np.arange(44.0), "y": np.ones(44)})
    (cal,) = events(eng, "calibration")
    assert cal.data["iaf"] == {"frequency": 10.0, "found": False, "reason": "no baseline spectrum"}


def test_sham_replays_another_trace_and_says_so(tmp_path):
    text = reward_text("""
[reward]
min_dwell = 0
[[reward.conditions]]
feature = "x"
scale = "raw"
threshold = { kind = "fixed", value = 1.0 }
[[mappings]]
feature = "x"
parameter = "fog_density"
""")
    tsv = tmp_path / "control.tsv"
    rows = ["time\tfog_density\treward"] + [
        f"{t:g}\t{t / 100:g}\t{int(t % 2)}" for t in range(0, 21)
    ]
    tsv.write_text("\n".join(rows) + "\n")
    trace = load_sham(tsv, ["fog_density"])
    eng = engine_for(text, sham=trace)
    x = np.r_[np.zeros(40), np.full(40, 2.0)]
    ctl = drive(eng, {"x": x, "y": x}, hop=0.25)
    c = ctl[45]  # t = 11.5 s -> trace row 11
    assert c.sham and c.params["fog_density"] == pytest.approx(0.11)
    assert c.reward is True and c.reward_rule is True
    assert ctl[47].reward is False  # row 12: the trace's reward is off; the live one on
    assert c.to_message()["sham"] is True
    markers = eng.pop_markers()
    assert markers[0].event == "session_start" and markers[0].data["sham"] is True
    assert all(m.data.get("sham") for m in markers if m.event.startswith("reward"))


def test_sham_source_errors_are_one_line(tmp_path):
    from neuroadapt.errors import ProtocolError

    text = (PROJECT_ROOT / "protocols" / "alpha_relax.toml").read_text()
    path = tmp_path / "p.toml"
    path.write_text(text + '\n[sham]\nsource = "missing.tsv"\n')
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.problems == [
        f"{path}: sham.source: no such file {str(tmp_path / 'missing.tsv')!r}"
    ]
    (tmp_path / "c.tsv").write_text("time\tfog_density\n0\t0.1\n")
    path.write_text(text + '\n[sham]\nsource = "c.tsv"\n')
    with pytest.raises(ProtocolError, match="has no column for light_warmth"):
        load_protocol(path)
    trace = sham_from_table(
        [0, 1],
        {
            "fog_density": [0.1, 0.2],
            "light_warmth": [0, 1],
            "water_calm": [0, 1],
            "sun_height": [0, 1],
        },
    )
    assert trace.at(0.5) == 0 and trace.at(1.0) == 1 and trace.at(-1) == 0


@pytest.mark.parametrize(
    "name", ["alpha_relax", "alpha_theta", "smr_attention", "frontal_asymmetry"]
)
def test_same_feature_stream_same_control_stream_bit_for_bit(name):
    loaded = load_protocol(PROJECT_ROOT / "protocols" / f"{name}.toml")
    rng = np.random.default_rng(0)
    names = [f.name for f in loaded.protocol.features]
    n = int(loaded.protocol.scaled(0.05).duration / 0.25) + 8
    feats = {k: np.abs(rng.standard_normal(n)) + 0.1 for k in names}
    arts = [("blink",) if rng.random() < 0.05 else () for _ in range(n)]

    def run() -> list[str]:
        eng = ProtocolEngine(
            type(loaded)(**{**loaded.__dict__, "protocol": loaded.protocol.scaled(0.05)})
        )
        ctl = drive(eng, feats, t0=1000.0, artifacts=arts)
        out = [json.dumps(c.to_message(), sort_keys=True) for c in ctl]
        return out + [m.to_json() for m in eng.pop_markers()]

    first, second = run(), run()
    assert first == second
    assert any('"reward_start"' in line for line in first) or name == "alpha_theta"
    assert all(
        math.isfinite(v) for line in first[:5] for v in json.loads(line).get("params", {}).values()
    )


def test_an_earlier_baseline_can_calibrate_the_iaf_alone():
    text = (
        HEAD.replace("band = [8, 12]", "iaf_band = [-2, 2]")
        + """
[[phases]]
name = "eyes_closed"
kind = "baseline"
duration = 5
calibrates = ["iaf"]
"""
        + PHASES
    )
    freqs = np.arange(0, 40.5, 0.5)
    psd = 1 / (1 + freqs) + 5 * np.exp(-0.5 * ((freqs - 9.0) / 0.7) ** 2)
    eng = engine_for(text)
    eng.start(0.0)
    for i in range(64):
        eng.step({"x": 1.0 + i % 3, "y": 1.0}, (i + 1) * 0.25, spectrum=(freqs, psd))
    first, second = events(eng, "calibration")
    assert first.t == 5.0 and first.data["phase"] == "eyes_closed"
    assert first.data["iaf"]["frequency"] == pytest.approx(9.0, abs=0.2)
    assert second.t == 15.0 and "iaf" not in second.data
    assert eng.iaf == first.data["iaf"]["frequency"]


def test_sham_trace_from_a_recorded_session(tmp_path, monkeypatch):
    from neuroadapt.record import xdf

    times = 500.0 + np.arange(0, 20, 0.25)
    control = xdf.RecordedStream(
        "neuroadapt-control",
        "Control",
        "s/control",
        ["fog_density", "feedback", "hold", "phase_index"],
        4.0,
        np.c_[np.linspace(0, 1, times.size), np.ones((times.size, 3))],
        times,
    )
    marks = [
        '{"event":"session_start"}',
        '{"event":"reward_start","feedback":true}',
        '{"event":"reward_end","feedback":true}',
        '{"event":"reward_start","feedback":false}',
        '{"event":"reward_end"}',
    ]
    markers = xdf.RecordedStream(
        "neuroadapt-markers",
        "Markers",
        "s/markers",
        ["marker"],
        0.0,
        [[m] for m in marks],
        np.array([499.0, 505.0, 507.0, 510.0, 512.0]),
    )
    monkeypatch.setattr(
        xdf, "load_session_xdf", lambda path: xdf.Session(None, None, control, markers, None)
    )
    path = tmp_path / "session.xdf"
    path.write_bytes(b"")
    trace = load_sham(path, ["fog_density"])
    assert trace.times[0] == 1.0  # timed from session_start
    assert trace.reward is not None
    on = trace.times[trace.reward > 0]
    assert on.min() == 6.0 and on.max() == 7.75  # only the reward the patient saw

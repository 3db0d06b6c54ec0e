"""Therapist's commands through the pipeline: applied at a window, replayed identically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.pipeline import CommandError, Pipeline
from neuroadapt.protocol import load_protocol
from neuroadapt.sources.synthetic import SyntheticHeadset

CH = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]
SFREQ = 250.0


@pytest.fixture(scope="module")
def loaded():
    full = load_protocol(PROJECT_ROOT / "protocols" / "alpha_relax.toml")
    return type(full)(
        full.protocol.scaled(0.05), full.path, full.text, full.sha256, full.outputs, full.initial
    )  # 6 s baseline + 30 s training


@pytest.fixture(scope="module")
def eeg():
    n = int(45 * SFREQ)
    data = SyntheticHeadset(CH, SFREQ, seed=5).generate(n)
    return data, 1000.0 + np.arange(n) / SFREQ


def live_run(loaded, eeg):
    """Chunks of 5 samples; commands at given sample counts; a 2 s gap of lost samples."""
    data, ts = eeg
    pipe = Pipeline(loaded, SFREQ, CH, "sim", autostart=True)
    commands = {
        int(12 * SFREQ): ("pause", {}),
        int(13 * SFREQ): ("difficulty", {"value": 0.8}),
        int(15 * SFREQ): ("resume", {"source": "supervisor"}),
    }
    gap = (int(20 * SFREQ), int(22 * SFREQ))  # samples never received
    steps, markers = [], []
    for i in range(0, len(ts), 5):
        if gap[0] <= i < gap[1]:
            continue
        if i == gap[1]:  # the engine notices the return and marks the late samples
            span = [float(ts[gap[0] - 1]), float(ts[i + 4])]
            pipe.hold_interval(*span)
            markers.append((float(ts[i + 4]), {"event": "stream_resumed", "gap": span}))
        if i in commands:
            name, data_ = commands[i]
            pipe.command(name, **data_)
        for step in pipe.push(data[i : i + 5], ts[i : i + 5]):
            steps.append(step)
            markers += [(m.t, json.loads(m.to_json())) for m in step.markers]
    return pipe, steps, markers


def test_commands_apply_at_the_next_window_with_its_time(loaded, eeg):
    _pipe, steps, markers = live_run(loaded, eeg)
    by_event = {m["event"]: (t, m) for t, m in markers}
    window_times = [s.frame.t for s in steps]
    for name in ("pause", "difficulty", "resume"):
        t, _m = by_event[name]
        assert t in window_times, name  # exactly a window's time
    assert by_event["pause"][1]["source"] == "console"
    assert by_event["resume"][1]["source"] == "supervisor"
    t_pause, t_resume = by_event["pause"][0], by_event["resume"][0]
    paused = [s.control for s in steps if t_pause <= s.frame.t < t_resume]
    assert paused and all(c.hold and c.hold_reason == "paused" for c in paused)
    # The protocol ran 3 s longer: its end moved by the paused time.
    end = next(t for t, m in markers if m["event"] == "session_end")
    assert end == pytest.approx(steps[0].frame.t + 36.0 + (t_resume - t_pause), abs=1e-6)
    # Windows after the gap are held with the stall's reason, then feedback resumes.
    held = [m for _t, m in markers if m["event"] == "hold_start"]
    assert any(m["reason"] == "stream stalled" for m in held)
    gap_to = next(m["gap"][1] for _t, m in markers if m["event"] == "stream_resumed")
    after = [
        s.control
        for s in steps
        if s.frame.t > gap_to + 1.0 and s.control is not None and not s.control.end
    ]
    assert after and not after[0].hold


def test_replay_with_recorded_markers_reproduces_the_live_output(loaded, eeg):
    _pipe, live_steps, live_markers = live_run(loaded, eeg)
    data, ts = eeg
    keep = np.ones(len(ts), bool)
    keep[int(20 * SFREQ) : int(22 * SFREQ)] = False  # the recording lacks the lost samples
    replay = Pipeline(loaded, SFREQ, CH, "sim", autostart=True)
    assert replay.apply_recorded(live_markers) == 4
    steps = []
    for i in range(0, int(keep.sum()), 997):  # another chunking
        steps += replay.push(data[keep][i : i + 997], ts[keep][i : i + 997])
    assert [s.control.to_message() for s in steps] == [s.control.to_message() for s in live_steps]
    replayed = [(m.t, json.loads(m.to_json())) for s in steps for m in s.markers]
    assert replayed == [m for m in live_markers if m[1]["event"] != "stream_resumed"]


def test_commands_refused_with_a_reason(loaded):
    pipe = Pipeline(loaded, SFREQ, CH, "sim")
    with pytest.raises(CommandError, match="before the session has started"):
        pipe.command("pause")
    with pytest.raises(CommandError, match=r"use 0 \(easiest\) to 1"):
        pipe.command("difficulty", value=3)
    pipe.request_start()
    pipe.command("pause")
    with pytest.raises(CommandError, match="already paused"):
        pipe.command("pause")
    pipe.command("resume")
    with pytest.raises(CommandError, match="not paused"):
        pipe.command("resume")
    with pytest.raises(CommandError, match="unknown pipeline command"):
        pipe.command("faster")

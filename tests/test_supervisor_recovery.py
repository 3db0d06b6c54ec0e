"""The supervisor keeps a session going: scene restarts, stream stalls, engine crashes.

Real sessions (simulator, engine, offscreen scene, LabRecorder as processes,
no console), disturbed from a thread with real signals; the recording is read
back with pyxdf.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
import pyxdf

from neuroadapt.demo import demo_plan
from neuroadapt.supervisor import SessionSupervisor

pytestmark = [pytest.mark.live, pytest.mark.render]


def supervisor(tmp_path: Path, duration: float) -> tuple[SessionSupervisor, list[str]]:
    plan, script = demo_plan(
        duration=duration,
        headless=True,
        out=tmp_path,
        seed=1,
        protocol="alpha_relax",
        subject="T01",
        scene=None,
    )
    plan.start_after = None  # start after the 5 s signal check
    lines: list[str] = []
    sup = SessionSupervisor(plan, echo=lines.append)
    (sup.dir / "simulated_brain.toml").write_text(script)
    plan.simulate += ["--script", str(sup.dir / "simulated_brain.toml")]
    return sup, lines


def wait_line(lines: list[str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in ln for ln in lines):
        assert time.monotonic() < deadline, f"no {text!r} in {lines}"
        time.sleep(0.1)


def in_background(target) -> dict:
    """Run ``target`` in a thread; its exception (or return value) lands in the dict."""
    out: dict = {}

    def run():
        try:
            out["value"] = target()
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    threading.Thread(target=run, daemon=True).start()
    return out


def load(folder: Path) -> dict:
    streams, _ = pyxdf.load_xdf(str(folder / "session.xdf"))
    return {s["info"]["name"][0]: s for s in streams}


def markers(by_name: dict) -> list[tuple[float, dict]]:
    m = by_name["neuroadapt-markers"]
    return [
        (float(t), json.loads(v[0]))
        for t, v in zip(m["time_stamps"], m["time_series"], strict=True)
    ]


@pytest.mark.timeout(150)
def test_engine_killed_ends_crashed_with_the_eeg_recorded_up_to_the_kill(tmp_path):
    sup, lines = supervisor(tmp_path, duration=25)

    def kill_engine():
        wait_line(lines, "session started", 90)
        time.sleep(8.0)
        t = pylsl.local_clock()
        os.kill(sup.children["engine"].proc.pid, signal.SIGKILL)
        return t

    killed = in_background(kill_engine)
    folder = sup.run()
    assert "error" not in killed, killed.get("error")
    meta = json.loads((folder / "session.json").read_text())
    assert meta["ended"] == "crashed" and meta["end"]
    assert any(f"session (crashed): {folder}" in ln for ln in lines)
    for child in sup.children.values():
        assert not child.alive(), child.name
    by_name = load(folder)
    eeg = by_name["neuroadapt-sim"]
    assert eeg["time_stamps"][-1] >= killed["value"] - 1.0
    assert np.diff(eeg["time_stamps"]).max() < 3 / 250


@pytest.mark.timeout(200)
def test_scene_restarted_and_stalled_stream_held_then_resumed(tmp_path):
    sup, lines = supervisor(tmp_path, duration=30)
    times: dict[str, float] = {}

    def disturb():
        wait_line(lines, "session started", 90)
        time.sleep(3.0)
        os.kill(sup.children["scene"].proc.pid, signal.SIGKILL)
        wait_line(lines, "restarted (1/", 10)
        times["restart"] = pylsl.local_clock()
        time.sleep(4.0)
        sim = sup.children["simulate"].proc.pid
        times["stop"] = pylsl.local_clock()
        os.kill(sim, signal.SIGSTOP)  # the headset goes silent for 10 s
        try:
            time.sleep(10.0)
        finally:
            os.kill(sim, signal.SIGCONT)
        times["cont"] = pylsl.local_clock()

    done = in_background(disturb)
    folder = sup.run()
    assert "error" not in done, done.get("error")
    assert json.loads((folder / "session.json").read_text())["ended"] == "completed", lines
    assert sup.scene_restarts == 1
    by_name = load(folder)
    # The EEG has no gap: the scene's death did not touch it.
    eeg = by_name["neuroadapt-sim"]["time_stamps"]
    assert np.diff(eeg).max() < 3 / 250
    # The restarted scene was recorded again under the same source_id.
    scene = by_name["neuroadapt-scene"]["time_stamps"]
    assert (scene > times["restart"] + 2.0).sum() > 30
    events = markers(by_name)
    restarted = [m for _t, m in events if m["event"] == "scene_restarted"]
    assert restarted and restarted[0]["source"] == "supervisor"
    # The stall: marked, held throughout, and feedback comes back after.
    t_stall = next(t for t, m in events if m["event"] == "stream_stalled")
    t_back, back = next((t, m) for t, m in events if m["event"] == "stream_resumed")
    assert times["stop"] < t_stall < t_back and t_back >= times["cont"] - 0.5
    assert back["gap"][0] <= times["stop"] + 0.1
    control = by_name["neuroadapt-control"]
    labels = [c["label"][0] for c in control["info"]["desc"][0]["channels"][0]["channel"]]
    hold = control["time_series"][:, labels.index("hold")]
    ct = control["time_stamps"]
    during = (ct > t_stall) & (ct <= t_back)
    assert during.sum() > 10 and np.all(hold[during] == 1)
    after = ct > t_back + 2.0
    assert after.sum() > 10 and np.any(hold[after] == 0)
    assert any("hold (stream stalled)" in ln for ln in lines)

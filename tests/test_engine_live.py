"""The live engine with a real LSL outlet, real inlets and real zmq sockets."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pylsl
import pytest

from neuroadapt import bus
from neuroadapt.engine import LiveEngine
from neuroadapt.lsl import make_stream_info
from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.protocol import load_protocol
from neuroadapt.sources.lsl_inlet import LSLSource, resolve_stream
from neuroadapt.sources.synthetic import SyntheticHeadset

pytestmark = pytest.mark.live
CH = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]


class Headset(threading.Thread):
    """Pushes synthetic EEG in real time; `paused` stops the flow (a stall)."""

    def __init__(self, source_id: str) -> None:
        super().__init__(daemon=True)
        self.outlet = pylsl.StreamOutlet(
            make_stream_info("test-eeg", "EEG", CH, 250, "float32", source_id)
        )
        self.gen = SyntheticHeadset(CH, 250.0, seed=2)
        self.paused = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if not self.paused.is_set():
                self.outlet.push_chunk(self.gen.generate(5).astype(np.float32))
            time.sleep(0.02)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"waited {timeout} s for {what}")


@pytest.fixture
def live(uid, tmp_path):
    loaded = load_protocol(PROJECT_ROOT / "protocols" / "alpha_relax.toml")
    loaded = type(loaded)(
        loaded.protocol.scaled(0.05),
        loaded.path,
        loaded.text,
        loaded.sha256,
        loaded.outputs,
        loaded.initial,
    )  # 6 s + 30 s
    headset = Headset(f"{uid}-eeg")
    headset.start()
    source = LSLSource(resolve_stream(source_id=f"{uid}-eeg", timeout=5), stall_timeout=0.5)
    engine = LiveEngine(
        loaded,
        source,
        session_id=uid,
        pub_address="tcp://127.0.0.1:*",
        commands_address="tcp://127.0.0.1:*",
        stream_name="test-eeg",
    )
    markers = pylsl.StreamInlet(resolve_stream(source_id=f"{uid}/markers", timeout=5))
    markers.open_stream(5)
    sub = bus.Subscriber(engine.pub.address, ["control", "status"])
    client = bus.CommandClient(engine.commands.address)
    result = {}
    thread = threading.Thread(target=lambda: result.update(reason=engine.run()), daemon=True)
    thread.start()
    seen: list[dict] = []
    got_markers: list[dict] = []

    def poll():
        for topic, msg in sub.drain():
            seen.append({"topic": topic, **msg})
        chunk, _ = markers.pull_chunk(timeout=0.0)
        got_markers.extend(json.loads(m[0]) for m in chunk)

    yield engine, headset, client, poll, seen, got_markers, result, thread
    engine.request_stop()
    thread.join(5)
    headset.done.set()
    headset.join(2)
    sub.close()
    client.close()
    engine.close()


def test_waits_for_start_then_runs_stalls_hold_and_stop_ends(live):
    _engine, headset, client, poll, seen, markers, result, thread = live

    def controls(phase=None):
        poll()
        return [
            m for m in seen if m["topic"] == "control" and (phase is None or m["phase"] == phase)
        ]

    wait_for(lambda: controls("waiting"), 10, "control messages before start")
    assert all(not m["feedback"] for m in controls("waiting"))
    assert client.request("ping")["started"] is False
    client.request("start")
    wait_for(lambda: controls("baseline"), 10, "the baseline to start")
    with pytest.raises(bus.BusError, match="already started"):
        client.request("start")
    wait_for(lambda: controls("training"), 15, "training after the 6 s baseline")
    seqs = [m["seq"] for m in controls()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(m["features"]["alpha_rel"] is not None for m in controls("training"))
    # A stall: the scene is told to hold, and the recording says so.
    headset.paused.set()
    wait_for(lambda: any(m.get("hold") for m in controls("training")), 10, "a hold")
    wait_for(
        lambda: poll() or any(e["event"] == "stream_stalled" for e in markers), 5, "stall marker"
    )

    def stalled_status():
        poll()
        return [m for m in seen if m["topic"] == "status" and m["stream"]["state"] == "stalled"]

    status = wait_for(stalled_status, 5, "stalled status")
    assert status[-1]["stream"]["name"] == "test-eeg"
    headset.paused.clear()
    wait_for(
        lambda: poll() or any(e["event"] == "stream_resumed" for e in markers), 10, "resume marker"
    )
    client.request("marker", text="patient moved")
    wait_for(
        lambda: poll() or any(e.get("text") == "patient moved" for e in markers), 5, "note marker"
    )
    # Pause, difficulty and resume: each applied at a window, marked with its time.
    assert client.request("pause")["paused"] is True
    with pytest.raises(bus.BusError, match="already paused"):
        client.request("pause")
    held = wait_for(
        lambda: [m for m in controls("training") if m.get("paused")], 5, "a paused control message"
    )
    assert held[-1]["hold"] is True and held[-1]["hold_reason"] == "paused"
    frozen = held[-1]["phase_elapsed"]
    time.sleep(1.0)
    poll()
    assert controls("training")[-1]["phase_elapsed"] == frozen  # the phase clock stopped
    status = [m for m in seen if m["topic"] == "status"][-1]
    assert status["paused"] is True and status["difficulty"]["adjustable"] is True
    assert client.request("set", difficulty=0.25, source="console")["difficulty"] == 0.25
    with pytest.raises(bus.BusError, match=r"use 0 \(easiest\) to 1"):
        client.request("set", difficulty=2)
    client.request("resume")
    with pytest.raises(bus.BusError, match="not paused"):
        client.request("resume")
    wait_for(
        lambda: [
            m
            for m in controls("training")
            if not m.get("paused") and m["t_sample"] > held[-1]["t_sample"]
        ],
        5,
        "resumed control",
    )
    wait_for(lambda: poll() or any(e["event"] == "resume" for e in markers), 5, "resume marker")
    by_event = {e["event"]: e for e in markers}
    assert by_event["pause"]["source"] == "console"
    assert by_event["difficulty"]["value"] == 0.25
    assert by_event["difficulty"]["thresholds"] == [pytest.approx(-1.0 + 0.25 * 3.5)]
    assert by_event["resume"]["paused"] >= 1.0
    status = wait_for(
        lambda: (
            poll()
            or [m for m in seen if m["topic"] == "status" and not m["paused"] and m["started"]]
        ),
        5,
        "status",
    )
    for key in (
        "phase",
        "phase_kind",
        "phase_elapsed",
        "phase_remaining",
        "instructions",
        "feedback",
        "thresholds",
        "reward_rate",
        "latency_ms",
        "quality",
    ):
        assert key in status[-1], key
    assert status[-1]["phase"] == "training" and 0 < status[-1]["phase_remaining"] <= 30
    assert set(status[-1]["feedback"]) == {"alpha_rel"}
    assert 0 <= status[-1]["latency_ms"] < 1000
    json.dumps(status[-1], allow_nan=False)
    client.request("stop")
    thread.join(10)
    assert result["reason"] == "stopped"
    wait_for(
        lambda: (
            poll() or any(e["event"] == "session_end" and e["reason"] == "stopped" for e in markers)
        ),
        5,
        "session_end marker",
    )
    end = wait_for(lambda: [m for m in controls() if m["end"]], 5, "the end message")
    assert end[-1]["phase"] == "end"


def test_gentle_exit_tells_the_scene_then_ends_the_session(live):
    _engine, _headset, client, poll, seen, markers, result, thread = live

    def controls():
        poll()
        return [m for m in seen if m["topic"] == "control"]

    client.request("start")
    wait_for(lambda: [m for m in controls() if m["phase"] == "baseline"], 10, "baseline")
    with pytest.raises(bus.BusError, match="use 1 to 600 s"):
        client.request("gentle_exit", duration=0.1)
    assert client.request("gentle_exit", duration=2.0)["duration"] == 2.0
    with pytest.raises(bus.BusError, match="already under way"):
        client.request("gentle_exit")
    wait_for(
        lambda: any(m.get("gentle_exit") == {"duration": 2.0} for m in controls()),
        5,
        "the gentle exit in a control message",
    )
    thread.join(10)
    assert result["reason"] == "gentle_exit"
    wait_for(
        lambda: (
            poll()
            or any(e["event"] == "session_end" and e["reason"] == "gentle_exit" for e in markers)
        ),
        5,
        "session_end marker",
    )
    assert any(e["event"] == "gentle_exit" and e["duration"] == 2.0 for e in markers)
    end = wait_for(lambda: [m for m in controls() if m["end"]], 5, "the end message")
    assert end[-1]["gentle_exit"] == {"duration": 2.0}

"""Engine messages -> the console's view model; page requests -> engine commands (pure)."""

from __future__ import annotations

import pytest

from neuroadapt.console.view import ConsoleRequestError, ConsoleState, client_command

STATUS = {
    "v": 1,
    "t": 10.0,
    "seq": 3,
    "stream": {
        "name": "sim",
        "state": "ok",
        "sfreq": 250.0,
        "n_channels": 2,
        "received": 500,
        "last_sample_age": 0.01,
    },
    "started": True,
    "phase": "training",
    "phase_kind": "training",
    "phase_elapsed": 10.0,
    "phase_remaining": 50.0,
    "instructions": "Relax.",
    "paused": False,
    "feedback": {"alpha_rel": 1.2},
    "thresholds": {"alpha_rel": 0.5},
    "reward_rate": 0.25,
    "difficulty": {"value": 0.4, "adjustable": True},
    "latency_ms": 12.5,
    "quality": {
        "Fz": {"level": "good", "reason": "ok"},
        "O1": {"level": "bad", "reason": "flat"},
        "O2": {"level": "weird"},
    },
}
CONTROL = {
    "v": 1,
    "t": 10.5,
    "seq": 9,
    "t_sample": 100.0,
    "phase": "training",
    "phase_kind": "training",
    "phase_index": 1,
    "phase_elapsed": 10.5,
    "feedback": True,
    "hold": False,
    "end": False,
    "params": {"fog": 0.3, "sun": float("nan")},
    "features": {"alpha_rel": 0.4},
    "normalised": {"alpha_rel": None},
    "reward": True,
    "artifacts": None,
}


def test_before_any_message_the_page_waits_for_the_engine():
    view = ConsoleState().view(now=0.0)
    assert view["engine"] == "waiting" and view["channels"] == [] and view["summary"] is None
    assert view["phase"]["name"] is None and view["latency_ms"] is None
    assert view["difficulty"] == {"value": None, "adjustable": False}


def test_status_and_control_fill_the_view():
    state = ConsoleState()
    state.on_status(STATUS, now=1.0)
    state.on_control(CONTROL, now=1.2, lsl_now=100.05)
    view = state.view(now=1.5)
    assert view["engine"] == "connected" and view["started"] and not view["paused"]
    assert view["channels"] == [
        {"name": "Fz", "level": "good", "light": "green", "reason": "ok"},
        {"name": "O1", "level": "bad", "light": "red", "reason": "flat"},
        {"name": "O2", "level": "unknown", "light": "grey", "reason": "?"},
    ]
    ph = view["phase"]
    # The 1 Hz status said 50 s left at 10.0 s; the newer control is at 10.5 s.
    assert ph["duration"] == 60.0 and ph["remaining"] == pytest.approx(49.5)
    assert ph["instructions"] == "Relax." and ph["feedback_on"] and ph["index"] == 1
    assert view["feedback"]["features"] == [["alpha_rel", 0.4]]
    assert view["feedback"]["normalised"] == [["alpha_rel", None]]
    assert view["feedback"]["thresholds"] == [["alpha_rel", 0.5]]
    assert view["reward_rate"] == 0.25 and view["feedback"]["reward"]
    assert view["latency_ms"] == 12.5 and view["latency_source"] == "engine"
    assert view["scene"] == {
        "source": "control",
        "connected": None,
        "params": [["fog", 0.3], ["sun", None]],
    }
    assert view["difficulty"] == {"value": 0.4, "adjustable": True}
    assert state.view(now=10.0)["engine"] == "silent"


def test_an_older_engine_missing_fields_still_renders():
    state = ConsoleState()
    state.on_status({"stream": "garbage", "quality": None, "phase": 3}, now=0.0)
    state.on_control(
        {"phase": "baseline", "phase_index": 0, "t_sample": "x", "feedback": False, "reward": True},
        now=0.0,
        lsl_now=5.0,
    )
    view = state.view(now=0.5)
    assert view["stream"]["state"] is None and view["channels"] == []
    assert view["phase"]["name"] == "baseline" and view["phase"]["remaining"] is None
    assert view["latency_ms"] is None and view["reward_rate"] is None
    # Without the engine's latency, the console measures sample -> console.
    state.on_control({**CONTROL}, now=0.6, lsl_now=100.25)
    assert state.view(now=0.7)["latency_ms"] == 250.0
    assert state.view(now=0.7)["latency_source"] == "console"


def test_reward_rate_falls_back_to_rewarded_feedback_windows():
    state = ConsoleState()
    for i, reward in enumerate([True, False, False, True]):
        state.on_control({**CONTROL, "reward": reward, "t_sample": 100.0 + i}, now=i)
    state.on_control({**CONTROL, "hold": True, "reward": False}, now=5)  # held: not counted
    assert state.reward_rate() == 0.5


def test_the_scene_stream_replaces_targets_while_fresh():
    state = ConsoleState(scene_configured=True)
    state.on_control(CONTROL, now=0.0)
    assert state.view(now=0.0)["scene"]["connected"] is False
    state.on_scene({"fog": 0.31, "frame_time_ms": 16.7}, now=1.0)
    assert state.view(now=2.0)["scene"] == {
        "source": "scene",
        "connected": True,
        "params": [["fog", 0.31], ["frame_time_ms", 16.7]],
    }
    assert state.view(now=10.0)["scene"]["source"] == "control"  # the scene went away


def test_summary_from_session_json_and_the_phases_seen():
    state = ConsoleState()
    state.on_control({**CONTROL, "phase": "baseline", "phase_index": 0, "t_sample": 10.0}, now=0)
    state.on_control({**CONTROL, "phase": "training", "phase_index": 1, "t_sample": 70.0}, now=1)
    assert state.summary() is None
    state.on_control({**CONTROL, "end": True, "phase": "end"}, now=2)
    s = state.summary()
    assert s["ended"] == "ended" and s["duration_s"] == 60.0
    assert s["phases_done"] == ["baseline"] and s["phase_at_end"] == "training"
    state.on_session(
        {
            "ended": "completed",
            "start": "2026-01-01T10:00:00+00:00",
            "end": "2026-01-01T10:12:30+00:00",
            "protocol": {"name": "alpha_relax"},
        }
    )
    s = state.summary()
    assert s["ended"] == "completed" and s["duration_s"] == 750.0
    assert s["phases_done"] == ["baseline", "training"] and s["protocol"] == "alpha_relax"
    # session.json alone can end the session (the engine crashed, say).
    other = ConsoleState()
    other.on_session({"ended": "crashed"})
    assert other.view(now=0)["summary"]["ended"] == "crashed"
    assert ConsoleState(session={"ended": "running"}).summary() is None


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"action": "pause"}, ("pause", {})),
        ({"action": "start", "extra": 1}, ("start", {})),
        ({"action": "gentle_exit"}, ("gentle_exit", {"duration": 60.0})),
        ({"action": "gentle_exit", "duration": 30}, ("gentle_exit", {"duration": 30.0})),
        ({"action": "note", "text": "  moved  "}, ("marker", {"text": "moved"})),
        ({"action": "difficulty", "value": 0.7}, ("set", {"difficulty": 0.7})),
    ],
)
def test_page_requests_become_engine_commands(request_, expected):
    assert client_command(request_) == expected


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"action": "rm -rf"}, "unknown action"),
        ({}, "unknown action"),
        ({"action": "note", "text": "   "}, "empty"),
        ({"action": "note", "text": "x" * 1001}, "longer than 1000"),
        ({"action": "difficulty", "value": 1.5}, "use 0 to 1"),
        ({"action": "difficulty", "value": True}, "use 0 to 1"),
        ({"action": "difficulty"}, "use 0 to 1"),
        ({"action": "gentle_exit", "duration": 0.5}, "use 1 to 600"),
    ],
)
def test_bad_page_requests_are_refused(request_, message):
    with pytest.raises(ConsoleRequestError, match=message):
        client_command(request_)


def test_a_pause_is_shown_as_the_reason_feedback_is_held():
    state = ConsoleState()
    state.on_status(STATUS, now=1.0)
    held = {**CONTROL, "hold": True, "hold_reason": "paused", "artifacts": "blink: Fz"}
    state.on_control(held, now=1.2, lsl_now=100.05)
    fb = state.view(now=1.5)["feedback"]
    assert fb["hold"] and fb["hold_reason"] == "paused"
    state.on_control({**held, "hold_reason": None}, now=1.3, lsl_now=100.1)
    assert state.view(now=1.5)["feedback"]["hold_reason"] == "blink: Fz"

"""The scene app end to end: real zmq control in, real LSL applied state out.

The scene runs as a subprocess (``python -m neuroadapt.scene.cli``), exactly
as the supervisor starts it; the test publishes control messages on a random
loopback port and reads the ``neuroadapt-scene`` stream by its unique
``source_id``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pylsl
import pytest
from pylsl.util import LostError

from neuroadapt.bus import Publisher
from neuroadapt.errors import ConfigError
from neuroadapt.lsl import STREAM_SCENE, channel_labels
from neuroadapt.scene import find_scene, load_manifest
from neuroadapt.scene.cli import headless_wanted, parse_set

SCENE_CMD = [sys.executable, "-m", "neuroadapt.scene.cli"]


def start_scene(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*SCENE_CMD, "lagoon", "--headless", "--size", "320x180", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def resolve_scene(uid: str, proc: subprocess.Popen, limit: float = 30.0) -> pylsl.StreamInfo:
    """The scene's applied-state stream, or fail early if the process died."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = pylsl.resolve_bypred(f"source_id='{uid}'", 1, 1.0)
        if found:
            return found[0]
        if proc.poll() is not None:
            pytest.fail(f"scene exited with {proc.returncode}:\n{proc.stderr.read()[-3000:]}")
    pytest.fail(f"no {STREAM_SCENE} stream with source_id {uid} within {limit:g} s")


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    """Wait (bounded) for the process; kill it if it hangs. Returns (code, stderr)."""
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=15)
        pytest.fail(f"scene did not exit:\n{err[-3000:]}")
    return proc.returncode, err


@pytest.mark.live
@pytest.mark.timeout(120)
def test_control_messages_glide_the_scene_and_end_stops_it(uid):
    manifest = load_manifest(find_scene("lagoon"))
    names = list(manifest.names)
    rates = np.array([p.max_rate for p in manifest.parameters])
    fog_i = names.index("fog_density")
    pub = Publisher("tcp://127.0.0.1:*")
    started = time.monotonic()
    proc = start_scene("--control", pub.address, "--duration", "30", "--source-id", uid)
    samples: list[list[float]] = []
    stamps: list[float] = []
    ended = False
    try:
        info = resolve_scene(uid, proc)
        inlet = pylsl.StreamInlet(info, recover=False)
        inlet.open_stream(timeout=10)
        assert channel_labels(inlet.info(timeout=10)) == [*names, "frame_time_ms", "dropped_frames"]
        assert inlet.info().type() == "SceneState" and inlet.info().nominal_srate() == 0

        def pump() -> None:
            try:
                chunk, ts = inlet.pull_chunk(timeout=0.0)
            except LostError:  # the scene has gone (after the end message)
                return
            samples.extend(chunk)
            stamps.extend(ts)

        def fog() -> float:
            return samples[-1][fog_i] if samples else manifest["fog_density"].default

        def publish_until(payload: dict, done, limit: float) -> bool:
            # Publish every 50 ms (as the engine does) until `done()` or `limit` s.
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                pub.publish("control", payload)
                pump()
                if done():
                    return True
                time.sleep(0.05)
            return False

        # Down toward 0.1 (with a name the scene does not have, to be ignored)...
        assert publish_until(
            {
                "params": {"fog_density": 0.1, "bogus": 1.0},
                "feedback": True,
                "hold": False,
                "phase": "training",
            },
            lambda: fog() < 0.45,
            20,
        ), "fog never went down"
        lowest = min(s[fog_i] for s in samples)
        # ...then up toward 0.9...
        assert publish_until({"params": {"fog_density": 0.9}}, lambda: fog() > lowest + 0.1, 20), (
            "fog never went up"
        )
        # ...then hold while asking for 0.1 again: it must ease to a stop, not turn.
        publish_until({"params": {"fog_density": 0.1}, "hold": True}, lambda: False, 2.0)
        ended = publish_until({"end": True}, lambda: proc.poll() is not None, 10)
        pump()
    finally:
        if not ended and proc.poll() is None:
            proc.terminate()
        code, err = stop(proc)
        pub.close()
    assert ended, "the end message did not stop the scene"
    assert code == 0, err
    assert "Traceback" not in err
    assert "end message" in err  # stopped by the message, not by --duration
    assert time.monotonic() - started < 30
    assert "'bogus'" in err  # warned once about the unknown parameter
    assert err.count("'bogus'") == 1

    data = np.asarray(samples, dtype=float)
    ts = np.asarray(stamps)
    assert len(data) > 30 and np.all(np.diff(ts) > 0)
    values, frame_ms, dropped = data[:, : len(names)], data[:, -2], data[:, -1]
    # dropped_frames counts the frames longer than 1.5 target intervals (60 fps) so far;
    # the inlet may connect after the first frames, so compare increments.
    assert dropped[0] >= 0
    assert np.array_equal(np.diff(dropped), (frame_ms[1:] > 1.5 * 1000 / 60).astype(float))
    # No jump on any parameter: each step within max_rate times the interval
    # between the two samples (the controller is timed by the same clock).
    steps = np.abs(np.diff(values, axis=0))
    assert np.all(steps <= np.diff(ts)[:, None] * rates + 1e-5)
    assert np.all(steps <= frame_ms[1:, None] / 1000 * rates + 1e-5)
    # Fog falls monotonically to its lowest point, then rises (and holds) monotonically.
    f = values[:, fog_i]
    low = int(np.argmin(f))
    assert f[0] - f[low] > 0.1 and f[-1] - f[low] > 0.1
    assert np.all(np.diff(f[: low + 1]) <= 1e-6)
    assert np.all(np.diff(f[low:]) >= -1e-6)
    # Under hold it settles: the last half second barely moves.
    tail = f[ts >= ts[-1] - 0.5]
    assert len(tail) > 3 and np.ptp(tail) < 0.005
    # Parameters nobody asked about stayed where they started.
    others = [i for i, n in enumerate(names) if n != "fog_density"]
    defaults = np.array([manifest[n].default for n in names])
    assert np.allclose(values[:, others], defaults[others], atol=1e-6)


@pytest.mark.live
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_scene_cleanly(uid, signum):
    proc = start_scene("--control", "none", "--duration", "30", "--source-id", uid)
    try:
        resolve_scene(uid, proc)
        proc.send_signal(signum)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert f"signal {signal.Signals(signum).name}" in err
    assert "Traceback" not in err


@pytest.mark.live
@pytest.mark.timeout(60)
def test_duration_ends_the_run(uid):
    proc = start_scene("--control", "none", "--duration", "1", "--source-id", uid)
    code, err = stop(proc)
    assert code == 0, err
    assert "stopped after" in err and "duration" in err


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCENE_CMD, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--set", "fogginess=0.5"],
            "neuroadapt: error: --set fogginess: unknown parameter of scene 'lagoon'; valid names: "
            "fog_density, light_warmth, water_calm, sun_height",
        ),
        (
            ["--set", "fog_density=1.5"],
            "neuroadapt: error: --set fog_density: 1.5 is out of range [0, 1]",
        ),
        (["--set", "fog_density"], "neuroadapt: error: --set 'fog_density': expected PARAM=VALUE"),
        (
            ["--set", "fog_density=thick"],
            "neuroadapt: error: --set fog_density: 'thick' is not a number",
        ),
        (["--size", "big"], "neuroadapt: error: --size 'big': expected WIDTHxHEIGHT"),
        (["--duration", "0"], "neuroadapt: error: --duration 0: must be a positive number"),
        (
            ["--output", "hologram"],
            "neuroadapt: error: --output 'hologram': expected one of window, offscreen, stereo, vr",
        ),
        (["--exit-duration", "0"], "neuroadapt: error: --exit-duration 0: must be a positive"),
    ],
)
def test_bad_arguments_give_one_line_errors(args, expected):
    proc = run_cli("lagoon", "--headless", "--control", "none", *args)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), proc.stderr


def test_unknown_scene_lists_the_available_ones():
    proc = run_cli("atlantis", "--headless")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("neuroadapt: error: unknown scene 'atlantis'; available: ")
    assert "lagoon" in line


def test_scenes_lists_parameters_with_range_default_and_unit():
    proc = run_cli("scenes")
    assert proc.returncode == 0, proc.stderr
    assert "\nlagoon — Lagoon at sunset" in "\n" + proc.stdout
    fog = next(line for line in proc.stdout.splitlines() if "fog_density" in line)
    assert "[0, 1]" in fog and "default 0.6" in fog and "max 0.15/s" in fog


def test_headless_is_automatic_without_a_display(monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "NEUROADAPT_HEADLESS"):
        monkeypatch.delenv(var, raising=False)
    assert headless_wanted(True)
    if sys.platform.startswith("linux"):
        assert headless_wanted(False)
        monkeypatch.setenv("DISPLAY", ":0")
        assert not headless_wanted(False)
    monkeypatch.setenv("NEUROADAPT_HEADLESS", "1")
    assert headless_wanted(False)


def test_parse_set():
    assert parse_set(["fog_density=0.2", " water_calm = 1 "]) == {
        "fog_density": 0.2,
        "water_calm": 1.0,
    }
    with pytest.raises(ConfigError, match="not a finite number"):
        parse_set(["fog_density=nan"])


def read_stream(inlet: pylsl.StreamInlet, samples: list, stamps: list) -> None:
    try:
        chunk, ts = inlet.pull_chunk(timeout=0.0)
    except LostError:  # the scene has gone
        return
    samples.extend(chunk)
    stamps.extend(ts)


@pytest.mark.live
@pytest.mark.timeout(120)
def test_hold_eases_to_a_steady_state_and_never_jumps(uid):
    """Hold while the scene is gliding: it eases to a stop and stays there, from the stream."""
    manifest = load_manifest(find_scene("lagoon"))
    names = list(manifest.names)
    rates = np.array([p.max_rate for p in manifest.parameters])
    pub = Publisher("tcp://127.0.0.1:*")
    proc = start_scene("--control", pub.address, "--duration", "40", "--source-id", uid)
    samples: list = []
    stamps: list = []
    hold_at = None
    try:
        inlet = pylsl.StreamInlet(resolve_scene(uid, proc), recover=False)
        inlet.open_stream(timeout=10)
        # Glide every parameter toward its far end, at full speed, for 2 s.
        far = {
            p.name: (p.high if p.default < (p.low + p.high) / 2 else p.low)
            for p in manifest.parameters
        }
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pub.publish("control", {"params": far, "hold": False})
            read_stream(inlet, samples, stamps)
            moving = len(samples) > 2 and any(
                abs(samples[-1][i] - manifest.parameters[i].default) > 0.2 * rates[i]
                for i in range(len(names))
            )
            if moving and hold_at is None:
                hold_at = time.monotonic() + 1.0  # let it reach speed first
            if hold_at is not None and time.monotonic() > hold_at:
                break
            time.sleep(0.05)
        assert hold_at is not None, "the scene never moved"
        t_hold = pylsl.local_clock()
        # Hold (signal lost) while the targets jump around: nothing may follow them.
        end = time.monotonic() + 3.0
        k = 0
        while time.monotonic() < end:
            wild = {p.name: (p.low if k % 2 else p.high) for p in manifest.parameters}
            pub.publish("control", {"params": wild, "hold": True})
            read_stream(inlet, samples, stamps)
            k += 1
            time.sleep(0.05)
        pub.publish("control", {"end": True})
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            read_stream(inlet, samples, stamps)
            pub.publish("control", {"end": True})
            time.sleep(0.05)
        read_stream(inlet, samples, stamps)
    finally:
        if proc.poll() is None:
            proc.terminate()
        code, err = stop(proc)
        pub.close()
    assert code == 0, err
    data = np.asarray(samples, dtype=float)[:, : len(names)]
    ts = np.asarray(stamps)
    steps = np.abs(np.diff(data, axis=0))
    assert np.all(steps <= np.diff(ts)[:, None] * rates + 1e-5)  # never a jump
    after = ts >= t_hold + 0.15  # messages take a frame or two to arrive
    held = data[after]
    # Each parameter moved on in its own direction only (no turn toward the
    # wild targets), by no more than its coasting allowance, then stood still.
    v = np.diff(data, axis=0)
    direction = np.sign(v[(ts[1:] < t_hold) & (ts[1:] > t_hold - 0.5)].sum(axis=0))
    assert np.all(np.diff(held, axis=0) * direction >= -1e-6)
    assert np.all(np.ptp(held, axis=0) <= 0.5 * rates + 1e-4)  # settles within ~0.5 s of motion
    tail = data[ts >= ts[-1] - 1.0]
    assert len(tail) > 10 and np.all(np.ptp(tail, axis=0) < 1e-6)  # steady


@pytest.mark.live
@pytest.mark.timeout(120)
def test_gentle_exit_eases_to_neutral_and_ends_the_run(uid):
    """Publisher -> scene subprocess -> LSL: a 3 s gentle exit from off-neutral values."""
    manifest = load_manifest(find_scene("lagoon"))
    names = list(manifest.names)
    neutral = np.array([p.neutral for p in manifest.parameters])
    rates = np.array([p.max_rate for p in manifest.parameters])
    start = {
        p.name: (p.neutral + 0.1 if p.neutral + 0.1 <= p.high else p.neutral - 0.1)
        for p in manifest.parameters
    }
    set_args = [a for name, v in start.items() for a in ("--set", f"{name}={v}")]
    pub = Publisher("tcp://127.0.0.1:*")
    proc = start_scene("--control", pub.address, "--duration", "40", "--source-id", uid, *set_args)
    samples: list = []
    stamps: list = []
    started = None
    try:
        inlet = pylsl.StreamInlet(resolve_scene(uid, proc), recover=False)
        inlet.open_stream(timeout=10)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            # Repeated, as an engine would; only the first one counts. The
            # targets asked for alongside are ignored once the exit began.
            pub.publish(
                "control",
                {"params": {n: manifest[n].high for n in names}, "gentle_exit": {"duration": 3.0}},
            )
            if started is None:
                started = pylsl.local_clock()
            read_stream(inlet, samples, stamps)
            time.sleep(0.05)
        read_stream(inlet, samples, stamps)
    finally:
        if proc.poll() is None:
            proc.terminate()
        code, err = stop(proc)
        pub.close()
    assert code == 0, err
    assert "gentle exit" in err and "Traceback" not in err
    data = np.asarray(samples, dtype=float)[:, : len(names)]
    ts = np.asarray(stamps)
    assert np.allclose(data[-1], neutral, atol=1e-6)  # ended exactly at neutral
    moving = np.flatnonzero(np.any(np.abs(np.diff(data, axis=0)) > 1e-7, axis=1))
    t0, t1 = ts[moving[0]], ts[moving[-1] + 1]
    assert 2.7 < t1 - t0 < 3.5  # the requested 3 s (within a few frames)
    assert t0 - started < 1.0
    steps = np.abs(np.diff(data, axis=0))
    assert np.all(steps <= np.diff(ts)[:, None] * rates + 1e-5)
    # Monotone smoothstep from start to neutral: compare at quarter points.
    frac = (data - data[0]) / (neutral - data[0])
    assert np.all(np.diff(frac, axis=0) >= -1e-4)
    for q in (0.25, 0.5, 0.75):
        i = np.searchsorted(ts, t0 + q * 3.0)
        assert np.allclose(frac[i], q * q * (3 - 2 * q), atol=0.06), (q, frac[i])


@pytest.mark.live
@pytest.mark.timeout(120)
def test_a_restarted_scene_joins_at_the_engines_current_state(uid):
    """``--join`` (a restart mid-session): the first control message sets the state at once."""
    F32 = 1e-6  # the scene's stream is float32: 0.6 arrives as 0.6000000238
    manifest = load_manifest(find_scene("lagoon"))
    names = list(manifest.names)
    fog_i = names.index("fog_density")
    assert manifest["fog_density"].default > 0.3  # the test needs a far-away target
    pub = Publisher("tcp://127.0.0.1:*")
    proc = start_scene("--control", pub.address, "--duration", "30", "--source-id", uid, "--join")
    samples: list[list[float]] = []
    try:
        info = resolve_scene(uid, proc)
        inlet = pylsl.StreamInlet(info, recover=False)
        inlet.open_stream(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pub.publish(
                "control",
                {
                    "params": {"fog_density": 0.05},
                    "hold": False,
                    "feedback": True,
                    "phase": "training",
                },
            )
            chunk, _ = inlet.pull_chunk(timeout=0.05)
            samples.extend(chunk)
            if any(abs(s[fog_i] - 0.05) < F32 for s in samples):
                break
        joined = [s[fog_i] for s in samples]
        pub.publish("control", {"end": True})
    finally:
        if proc.poll() is None:
            proc.terminate()
        stop(proc)
        pub.close()
    assert joined and abs(joined[-1] - 0.05) < F32, "never took up the engine's state"
    # No glide: every frame is either the default (before the first message, which
    # a loaded machine may render) or the target.
    default = manifest["fog_density"].default
    assert all(abs(v - default) < F32 or abs(v - 0.05) < F32 for v in joined), joined[:20]

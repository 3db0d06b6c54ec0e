"""The whole loop, live, on loopback: simulator → engine → scene → recorder → XDF.

One real `neuroadapt demo` session (real LSL, real zmq, real offscreen
Panda3D, real LabRecorder) is run once for the module; the tests read what it
recorded back with pyxdf.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from tests.conftest import DEMO_DURATION

pytestmark = [pytest.mark.live, pytest.mark.render]

DURATION = DEMO_DURATION


@pytest.fixture(scope="module")
def session(demo_session) -> tuple[Path, subprocess.CompletedProcess]:
    return demo_session.folder, demo_session.proc


@pytest.mark.timeout(300)
def test_demo_leaves_a_complete_session_folder(session):
    folder, proc = session
    assert f"session (completed): {folder}" in proc.stdout
    for name in ("session.xdf", "protocol.toml", "session.json", "report.html"):
        assert (folder / name).is_file(), name
    meta = json.loads((folder / "session.json").read_text())
    assert meta["ended"] == "completed" and meta["subject"] == "S01"
    assert meta["software"]["liblsl"].isdigit() and meta["protocol"]["sha256"]
    assert meta["start"] and meta["end"]
    # The protocol saved is the one that ran (scaled to the demo's duration).
    from neuroadapt.protocol import parse_protocol

    assert parse_protocol((folder / "protocol.toml").read_text()).duration == pytest.approx(
        DURATION
    )
    # Privacy: no host name in anything the session wrote (LSL's own stream headers
    # in the XDF name the recording machine, as every LSL recording does).
    import re
    import socket

    host = re.compile(rf"\b{re.escape(socket.gethostname())}\b")
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".toml", ".log", ".html"):
            text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", path.read_text())
            assert not host.search(text), path
    assert "hostname" not in meta and "user" not in json.dumps(meta).lower()


@pytest.mark.timeout(300)
def test_recording_holds_every_stream_and_the_phases(session):
    folder, _ = session
    streams, _ = pyxdf.load_xdf(str(folder / "session.xdf"))
    by_name = {s["info"]["name"][0]: s for s in streams}
    assert {
        "neuroadapt-sim",
        "neuroadapt-features",
        "neuroadapt-control",
        "neuroadapt-markers",
        "neuroadapt-scene",
    } <= set(by_name)
    eeg = by_name["neuroadapt-sim"]
    assert eeg["time_series"].shape[1] == 8
    assert len(eeg["time_stamps"]) >= DURATION * 250 * 0.95
    events = [json.loads(m[0])["event"] for m in by_name["neuroadapt-markers"]["time_series"]]
    for e in ("session_start", "phase_start", "phase_end", "calibration", "session_end"):
        assert e in events
    assert events.count("phase_start") == 2


@pytest.mark.timeout(300)
def test_alpha_steps_move_the_scene_the_right_way(session):
    """The simulated alpha rises during training: the fog must lift (commanded and rendered)."""
    from neuroadapt.record.xdf import load_session_xdf

    folder, _ = session
    s = load_session_xdf(folder / "session.xdf")
    ((_, _, t0, t1),) = [p for p in s.phases() if p[1] == "training"]
    span = t1 - t0

    def mean_in(stream, label, a, b):
        sel = (stream.times >= t0 + a * span) & (stream.times < t0 + b * span)
        assert sel.sum() > 3, (label, a, b)
        return float(np.mean(stream.column(label)[sel]))

    alpha_early = mean_in(s.features, "alpha_rel", 0.0, 0.25)
    alpha_late = mean_in(s.features, "alpha_rel", 0.8, 1.0)
    assert alpha_late > 1.3 * alpha_early, (alpha_early, alpha_late)
    fog_early = mean_in(s.control, "fog_density", 0.05, 0.3)
    fog_late = mean_in(s.control, "fog_density", 0.85, 1.0)
    assert fog_late < fog_early - 0.2, (fog_early, fog_late)
    warm_early = mean_in(s.control, "light_warmth", 0.05, 0.3)
    warm_late = mean_in(s.control, "light_warmth", 0.85, 1.0)
    assert warm_late > warm_early + 0.2
    # The scene rendered it: applied values follow (they glide, so compare late vs early).
    rendered_early = mean_in(s.scene, "fog_density", 0.05, 0.3)
    rendered_late = mean_in(s.scene, "fog_density", 0.85, 1.0)
    assert rendered_late < rendered_early - 0.15, (rendered_early, rendered_late)


@pytest.mark.timeout(300)
def test_scene_glides_without_jumps(session):
    from neuroadapt.record.xdf import load_session_xdf
    from neuroadapt.scene.manifest import find_scene, load_manifest

    folder, _ = session
    s = load_session_xdf(folder / "session.xdf")
    manifest = load_manifest(find_scene("lagoon") / "scene.toml")
    dt = np.diff(s.scene.times)
    for prm in manifest.parameters:
        steps = np.abs(np.diff(s.scene.column(prm.name)))
        # applied changes never exceed the manifest's rate (float32 rounding allowed)
        assert np.all(steps <= prm.max_rate * dt + 1e-4), prm.name

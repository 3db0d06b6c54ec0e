"""A recorded demo session replayed with its own protocol gives what the engine gave live.

One real `neuroadapt demo` session (simulated headset, engine, offscreen scene,
LabRecorder) is recorded for the module; its ``session.xdf`` is replayed with
its ``protocol.toml`` and compared window by window with the engine's recorded
features, control and markers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroadapt.protocol import load_protocol
from neuroadapt.record.phases import pair_windows
from neuroadapt.replay import load_input
from neuroadapt.replay.compare import read_run
from neuroadapt.replay.run import Replay
from tests.conftest import DEMO_DURATION

pytestmark = [pytest.mark.live, pytest.mark.render]

DURATION = DEMO_DURATION
SETTLE = 2.0  # s after the protocol start before features are compared


@pytest.fixture(scope="module")
def session(demo_session) -> Path:
    return demo_session.folder


@pytest.fixture(scope="module")
def replayed(session):
    inp = load_input(session)
    assert inp.session is not None and inp.protocol_path == session / "protocol.toml"
    result = Replay(load_protocol(inp.protocol_path), inp).run()
    return inp, result, read_run(session)


@pytest.mark.timeout(300)
def test_replay_follows_the_live_window_grid_and_start(replayed):
    inp, result, live = replayed
    assert not [n for n in result.notes if "start" in n], result.notes
    assert result.ended == "completed"
    rt = np.asarray(result.tables.features.floats("time"))
    lt = np.asarray(live.features.floats("time"))
    ia, _ = pair_windows(rt, lt, 0.5 / inp.sfreq)  # the same samples, to half a sample
    assert len(ia) == len(rt), "every replayed window ends on a live window's sample"
    start_r = next(t for t, e in result.tables.marker_events() if e["event"] == "session_start")
    start_l = next(t for t, e in live.marker_events() if e["event"] == "session_start")
    assert start_r == pytest.approx(start_l, abs=1e-3)


@pytest.mark.timeout(300)
def test_replayed_features_match_the_recorded_ones(replayed):
    _, result, live = replayed
    start = result.start
    rt = np.asarray(result.tables.features.floats("time"))
    lt = np.asarray(live.features.floats("time"))
    ia, ib = pair_windows(rt, lt, 1e-3)
    late = rt[ia] >= start + SETTLE
    assert late.sum() >= (DURATION - SETTLE) / 0.25 - 2
    for name in result.tables.feature_names:
        a = np.asarray(result.tables.features.floats(name))[ia][late]
        b = np.asarray(live.features.floats(name))[ib][late]
        ok = np.isfinite(a) & np.isfinite(b)
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), name
        rel = np.abs(a[ok] - b[ok]) / np.abs(b[ok])
        assert rel.max() < 1e-6, (name, rel.max())


@pytest.mark.timeout(300)
def test_replayed_control_matches_the_recorded_stream(replayed):
    _, result, live = replayed
    rc, lc = result.tables.control, live.control
    ia, ib = pair_windows(np.asarray(rc.floats("time")), np.asarray(lc.floats("time")), 1e-3)
    assert len(ia) == len(lc) and len(ia) >= DURATION / 0.25 - 2
    for col in ("phase_index", "feedback", "hold", "reward"):
        a = np.asarray(rc.floats(col))[ia]
        b = np.asarray(lc.floats(col))[ib]
        assert np.array_equal(a, b), (col, np.flatnonzero(a != b)[:5])
    for p in rc.columns[rc.columns.index("reward") + 1 :]:
        a = np.asarray(rc.floats(p))[ia]
        b = np.asarray(lc.floats(p))[ib]
        # Sample times pass through two clock corrections (the engine inlet's, pyxdf's)
        # that differ by microseconds: the smoothing's time steps differ that much.
        assert np.max(np.abs(a - b)) < 1e-5, p

    # The protocol's events happened at the same windows (the engine's own events,
    # received commands, stalls, notes and channel quality, which has its own history,
    # aside).
    def events(tables):
        return [
            (e["event"], t)
            for t, e in tables.marker_events()
            if e["event"]
            not in ("quality", "note", "command", "stream_stalled", "stream_resumed", "gentle_exit")
        ]

    er, el = events(result.tables), events(live)
    assert [e for e, _ in er] == [e for e, _ in el]
    assert np.allclose([t for _, t in er], [t for _, t in el], atol=1e-3)

"""The last samples of a session reach the file: nothing in flight is lost at the end.

Two places could drop them: LabRecorderCLI, which pulls every 0.5 s and stops
without a last pull, and liblsl, which drops what an outlet has not sent when
the outlet is destroyed. Real outlets, a real LabRecorderCLI, read with pyxdf.
"""

from __future__ import annotations

import time
import uuid

import pytest
import pyxdf

pytestmark = pytest.mark.live


def _marker_outlet(source_id: str):
    import pylsl

    from neuroadapt.lsl import make_stream_info

    info = make_stream_info(
        f"markers-{source_id}", "Markers", ["marker"], pylsl.IRREGULAR_RATE, "string", source_id
    )
    return pylsl.StreamOutlet(info)


def _wait_for_consumer(outlet, seconds: float = 10.0) -> None:
    assert outlet.wait_for_consumers(seconds), "the recorder never connected"


@pytest.mark.timeout(60)
def test_a_marker_pushed_just_before_stop_is_in_the_file(tmp_path):
    from neuroadapt.record.recorder import SessionRecorder

    source_id = f"last-{uuid.uuid4().hex[:10]}"
    outlet = _marker_outlet(source_id)
    path = tmp_path / "session.xdf"
    recorder = SessionRecorder(path, [{"source_id": source_id}])
    recorder.start(timeout=20)
    try:
        _wait_for_consumer(outlet)
        outlet.push_sample(["first"])
        time.sleep(1.2)  # at least two of LabRecorder's pulls
        outlet.push_sample(["session_end"])
    finally:
        recorder.stop()  # at once: the drain is the recorder's job
    streams, _ = pyxdf.load_xdf(str(path))
    assert [s[0] for s in streams[0]["time_series"]] == ["first", "session_end"]


@pytest.mark.timeout(60)
def test_a_closing_producer_waits_for_its_listener(monkeypatch):
    import pylsl

    import neuroadapt.lsl as lsl

    slept: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(lsl.time, "sleep", sleep)
    source_id = f"linger-{uuid.uuid4().hex[:10]}"
    outlet = _marker_outlet(source_id)
    # No consumer: no wait.
    assert lsl.linger_for_consumers(outlet, None) is False
    assert slept == []

    (info,) = pylsl.resolve_byprop("source_id", source_id, timeout=10)
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=10)
    _wait_for_consumer(outlet)
    outlet.push_sample(["last words"])
    assert lsl.linger_for_consumers(None, outlet) is True
    assert slept == [lsl.OUTLET_LINGER]
    del outlet
    sample, _ = inlet.pull_sample(timeout=5)
    assert sample == ["last words"]
    inlet.close_stream()

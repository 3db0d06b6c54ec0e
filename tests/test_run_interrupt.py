"""`neuroadapt run` against a headset stream, stopped by Ctrl-C: nothing recorded is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import pyxdf

from neuroadapt.paths import PROJECT_ROOT

pytestmark = [pytest.mark.live, pytest.mark.render]


@pytest.mark.timeout(180)
def test_ctrl_c_stops_the_session_cleanly_and_keeps_the_recording(tmp_path, uid):
    env = dict(os.environ, NEUROADAPT_HEADLESS="1", PYTHONUNBUFFERED="1")
    headset = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neuroadapt",
            "simulate",
            "--name",
            f"cap-{uid}",
            "--source-id",
            f"cap-{uid}",
            "--duration",
            "150",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    log = tmp_path / "run.log"
    try:
        with open(log, "w") as out:
            run = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "neuroadapt",
                    "run",
                    "--protocol",
                    "alpha_relax",
                    "--stream",
                    f"cap-{uid}",
                    "--subject",
                    "T01",
                    "--headless",
                    "--no-console",
                    "--out",
                    str(tmp_path / "sessions"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
            deadline = time.monotonic() + 90
            while "session started" not in log.read_text():
                assert run.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            time.sleep(4.0)  # a few seconds of baseline
            run.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
            assert run.wait(60) == 0, log.read_text()
    finally:
        headset.terminate()
        headset.wait(10)
    text = log.read_text()
    assert "Traceback" not in text
    (folder,) = (tmp_path / "sessions" / "T01").glob("*_alpha_relax")
    assert f"session (stopped): {folder}" in text
    meta = json.loads((folder / "session.json").read_text())
    assert meta["ended"] == "stopped" and meta["end"]
    # What was recorded: the headset and the session's four streams, as queries.
    sid = meta["session_id"]
    assert meta["streams"] == [f"name=cap-{uid}"] + [
        f"name=neuroadapt-{kind},source_id={sid}/{kind}"
        for kind in ("features", "control", "markers", "scene")
    ]
    shipped = PROJECT_ROOT / "protocols" / "alpha_relax.toml"
    assert (folder / "protocol.toml").read_text() == shipped.read_text()
    streams, _ = pyxdf.load_xdf(str(folder / "session.xdf"))
    by_name = {s["info"]["name"][0]: s for s in streams}
    assert len(by_name[f"cap-{uid}"]["time_stamps"]) > 4 * 250 * 0.9
    events = [json.loads(m[0]) for m in by_name["neuroadapt-markers"]["time_series"]]
    assert events[-1] == {"event": "session_end", "reason": "stopped"}
    # every process of the session is gone
    for name in ("engine", "scene", "recorder"):
        assert (folder / "logs" / f"{name}.log").exists()
    assert "report:" in text

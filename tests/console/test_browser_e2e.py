"""The console in a real headless Chromium during a simulated, recorded session.

simulate → engine → `neuroadapt record` (LabRecorder) + `neuroadapt console`; the
browser sees the channels and the phase, starts, pauses, adds a note and stops;
the recorded XDF (read with pyxdf) holds the pause and the note as markers.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import pyxdf

from neuroadapt.record.session import now_iso, session_record, write_json_atomic
from tests.console.conftest import EngineRun, Proc, console

pytestmark = pytest.mark.live
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHANNELS = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            f"browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian chromium "
            "and chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1180",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    yield driver
    driver.quit()


@pytest.mark.timeout(150)
def test_console_drives_a_recorded_session(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    uid = uuid.uuid4().hex[:10]
    folder = tmp_path / "session"
    folder.mkdir()
    record = session_record(
        session_id=uid,
        subject="test",
        protocol_name="alpha_relax",
        protocol_version="1.0.0",
        protocol_sha256="0" * 64,
        settings={},
    )
    write_json_atomic(folder / "session.json", record)
    run = EngineRun(uid)
    recorder = Proc(
        "record",
        str(folder / "session.xdf"),
        "--timeout",
        "30",
        *[
            a
            for r in ("-eeg", "/features", "/control", "/markers")
            for a in ("--stream", f"source_id={uid}{r}")
        ],
    )
    con = None
    try:
        recorder.wait_for("recording started:", 40)
        con, url = console("--pub", run.pub, "--commands", run.commands, "--session", str(folder))
        d = browser
        wait = WebDriverWait(d, 30, poll_frequency=0.1)

        # Read in the page, in one call: the status updates redraw the channels, so a
        # found element may be replaced before it is read.
        def text(css: str) -> str:
            return d.execute_script(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css
            )

        d.get(url)
        wait.until(lambda _: len(d.find_elements(By.CSS_SELECTOR, "#channels .channel")) == 8)
        names = d.execute_script(
            "return Array.from(document.querySelectorAll("
            "'#channels .channel'), e => e.dataset.name);"
        )
        assert names == CHANNELS
        assert "good" in text("#channels") and text("#phase-name") == "waiting"
        assert not d.find_element(By.ID, "waiting").is_displayed()

        d.find_element(By.ID, "btn-start").click()
        wait.until(lambda _: text("#phase-name") == "baseline")
        wait.until(lambda _: "Sit comfortably" in text("#instructions"))
        wait.until(lambda _: text("#phase-remaining") not in ("—", ""))

        wait.until(lambda _: d.find_element(By.ID, "btn-pause").is_enabled())
        d.find_element(By.ID, "btn-pause").click()
        wait.until(lambda _: "Paused" in text("#messages") or "refused" in text("#messages"))
        assert "refused" not in text("#messages"), text("#messages")
        wait.until(lambda _: d.find_element(By.ID, "paused-badge").is_displayed())
        assert d.find_element(By.ID, "btn-resume").is_displayed()

        d.find_element(By.ID, "note-text").send_keys("patient yawned")
        d.find_element(By.ID, "btn-note").click()
        wait.until(lambda _: "Note added" in text("#messages"))
        assert d.find_element(By.ID, "note-text").get_attribute("value") == ""
        shot = tmp_path / "console.png"
        d.save_screenshot(str(shot))
        if os.environ.get("NEUROADAPT_CONSOLE_SCREENSHOT"):  # to refresh docs/console.png
            shutil.copy(shot, os.environ["NEUROADAPT_CONSOLE_SCREENSHOT"])

        # Stop asks first; cancelling does nothing.
        d.find_element(By.ID, "btn-stop").click()
        wait.until(lambda _: d.find_element(By.ID, "confirm").is_displayed())
        d.find_element(By.ID, "confirm-no").click()
        assert run.engine.proc.poll() is None
        d.find_element(By.ID, "btn-stop").click()
        wait.until(lambda _: d.find_element(By.ID, "confirm-yes").is_displayed())
        d.find_element(By.ID, "confirm-yes").click()
        wait.until(lambda _: d.find_element(By.ID, "summary").is_displayed())
        run.engine.wait_for("engine ended: stopped", 15)
        assert run.engine.proc.wait(10) == 0
        assert recorder.stop() == 0, recorder.output()

        # The supervisor's part: how it ended, and the report; the page links it.
        write_json_atomic(folder / "session.json", {**record, "end": now_iso(), "ended": "stopped"})
        (folder / "report.html").write_text("<html><title>report</title><body>r</body></html>")
        wait.until(lambda _: d.find_element(By.ID, "report-link").is_displayed())
        summary = text("#summary")
        assert "stopped" in summary and "alpha_relax" in summary and "baseline" in summary
        d.find_element(By.ID, "report-link").click()
        d.switch_to.window(d.window_handles[-1])
        wait.until(lambda _: d.title == "report")
    finally:
        if con is not None:
            assert con.stop() == 0
        recorder.stop()
        run.close()

    streams, _ = pyxdf.load_xdf(str(folder / "session.xdf"))
    by_id = {s["info"]["source_id"][0]: s for s in streams}
    assert set(by_id) == {f"{uid}-eeg", f"{uid}/features", f"{uid}/control", f"{uid}/markers"}
    markers = [json.loads(m[0]) for m in by_id[f"{uid}/markers"]["time_series"]]
    events = [m["event"] for m in markers]
    pause = [m for m in markers if m["event"] == "pause"]
    note = [m for m in markers if m["event"] == "note"]
    assert len(pause) == 1 and pause[0]["source"] == "console"
    assert [(m["text"], m["source"]) for m in note] == [("patient yawned", "console")]
    assert events.index("pause") < events.index("note") < events.index("session_end")
    assert any(m["event"] == "session_end" and m["reason"] == "stopped" for m in markers)

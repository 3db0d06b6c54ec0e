"""Crash marking: a session whose supervisor died is marked crashed by the next command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from neuroadapt.cli import main
from neuroadapt.record.session import (
    LOCK_FILE,
    SessionLiveError,
    SessionLock,
    check_session,
    session_is_live,
)
from tests.record.conftest import copy_session

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

HOLDER = (
    "import sys; from neuroadapt.record.session import SessionLock; "
    "SessionLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()"
)


def running_copy(recorded_session, tmp_path):
    return copy_session(recorded_session, tmp_path, ended="running", end=None)


def meta(folder) -> dict:
    return json.loads((folder / "session.json").read_text())


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds a session's lock, as the supervisor does."""
    procs = []

    def start(folder):
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_abandoned_session_is_marked_crashed_by_report(recorded_session, tmp_path):
    folder = running_copy(recorded_session, tmp_path)
    with SessionLock(folder) as lock:  # a supervisor took the lock ...
        lock.release(remove=False)  # ... and died: the file stays, nobody holds it
    mtime = (folder / "session.xdf").stat().st_mtime
    assert main(["report", str(folder)]) == 0
    m = meta(folder)
    assert m["ended"] == "crashed"
    assert datetime.fromisoformat(m["end"]) == datetime.fromtimestamp(int(mtime), UTC)
    assert abs(datetime.fromisoformat(m["crash_detected"]).timestamp() - time.time()) < 120
    assert "crash detected" in (folder / "report.html").read_text()


def test_live_session_is_refused_and_left_alone(recorded_session, tmp_path, holder, capsys):
    folder = running_copy(recorded_session, tmp_path)
    proc = holder(folder)
    before = (folder / "session.json").read_bytes()
    assert session_is_live(folder)
    for args in (
        ["report", str(folder)],
        ["export", str(folder), "--to", "fif", "--dest", str(tmp_path / "x")],
    ):
        assert main(args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "still running" in err[0], err
    assert (folder / "session.json").read_bytes() == before
    # SIGKILL: the kernel frees the lock; the next look marks the session crashed.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert not session_is_live(folder)
    assert check_session(folder)["ended"] == "crashed"
    assert (folder / LOCK_FILE).exists()


def test_live_session_record_is_readable_when_asked(recorded_session, tmp_path, holder):
    folder = running_copy(recorded_session, tmp_path)
    holder(folder)
    assert check_session(folder, allow_live=True)["ended"] == "running"
    with pytest.raises(SessionLiveError):
        check_session(folder)
    with pytest.raises(SessionLiveError):
        SessionLock(folder).acquire()


def test_session_without_lock_file_counts_as_crashed_only_when_stale(recorded_session, tmp_path):
    folder = running_copy(recorded_session, tmp_path)
    now = time.time()
    os.utime(folder / "session.xdf", (now, now))
    with pytest.raises(SessionLiveError, match="may still be running"):
        check_session(folder)
    os.utime(folder / "session.xdf", (now - 3600, now - 3600))
    assert check_session(folder)["ended"] == "crashed"


def test_clean_end_leaves_no_lock_and_finished_sessions_are_untouched(recorded_session, tmp_path):
    folder = copy_session(recorded_session, tmp_path)
    before = (folder / "session.json").read_bytes()
    with SessionLock(folder):
        assert (folder / LOCK_FILE).exists()
    assert not (folder / LOCK_FILE).exists()
    assert check_session(folder)["ended"] == "completed"
    assert (folder / "session.json").read_bytes() == before


def test_not_a_session_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "session.json").write_text("{not json")
    assert main(["export", str(tmp_path), "--to", "edf", "--dest", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "session.json: cannot read" in err[0]


def test_crashed_session_with_a_cut_recording_still_exports(recorded_session, tmp_path):
    import mne

    folder = running_copy(recorded_session, tmp_path)
    xdf = folder / "session.xdf"
    os.truncate(xdf, int(xdf.stat().st_size * 0.6))  # the recorder died mid-file
    os.utime(xdf, (time.time() - 3600, time.time() - 3600))
    assert main(["export", str(folder), "--to", "fif", "--dest", str(tmp_path / "out")]) == 0
    assert meta(folder)["ended"] == "crashed"
    (path,) = (tmp_path / "out").glob("*.fif")
    raw = mne.io.read_raw_fif(path, verbose="error")
    from neuroadapt.sources.files import read_recording

    full = read_recording(recorded_session / "session.xdf").duration
    assert 5 < raw.times[-1] < 0.7 * full
    # The phase cut short by the crash ends with the data.
    training = [a for a in raw.annotations if a["description"] == "phase/training"]
    assert training and training[0]["onset"] + training[0]["duration"] <= raw.times[-1] + 1e-3

"""``neuroadapt play``: real recordings streamed over real LSL, and recorded back."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.errors import ConfigError
from neuroadapt.sources.files import read_recording
from neuroadapt.sources.play import RecordingPlayer
from tests.sources.helpers import read_line, start

pytestmark = pytest.mark.live

PHYSIONET = "physionet_eegmmidb/S001R01.edf"
COUNTER_SECONDS = 10
MARKERS = {1.0: "cue", 2.5: "T1", 7.25: "T2"}


def run_cli(*args: str) -> subprocess.Popen[str]:
    return start("neuroadapt", *args)


def pull_all(inlet, n_channels: int, until: float, want: int) -> tuple[np.ndarray, np.ndarray]:
    """Pull until ``want`` samples arrived or the deadline passed."""
    chunks, stamps = [], []
    got = 0
    while got < want and time.monotonic() < until:
        data, ts = inlet.pull_chunk(timeout=0.2, max_samples=4096)
        if ts:
            chunks.append(np.asarray(data, dtype=np.float32).reshape(-1, n_channels))
            stamps.extend(ts)
            got += len(ts)
    if not chunks:
        return np.zeros((0, n_channels), np.float32), np.zeros(0)
    return np.concatenate(chunks), np.asarray(stamps)


@pytest.fixture(scope="module")
def counter_fif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of 4 real PhysioNet channels plus a misc channel counting samples 0..N-1."""
    import mne
    from mne.io.constants import FIFF

    from tests.conftest import SHARED_EEG

    if not (SHARED_EEG / PHYSIONET).is_file():
        pytest.skip("PhysioNet S001R01.edf not found")
    raw = mne.io.read_raw(SHARED_EEG / PHYSIONET, preload=True, verbose="error")
    raw.pick(["C3..", "Cz..", "C4..", "Oz.."]).crop(0, COUNTER_SECONDS, include_tmax=False)
    counter = mne.io.RawArray(
        np.arange(raw.n_times, dtype=float)[None, :],
        mne.create_info(["counter"], raw.info["sfreq"], ["misc"]),
        verbose="error",
    )
    counter.info["chs"][0]["unit"] = FIFF.FIFF_UNIT_NONE  # a count, not volts
    raw.add_channels([counter], force_update_info=True)
    raw.set_annotations(
        mne.Annotations(list(MARKERS), [0.0] * len(MARKERS), list(MARKERS.values()))
    )
    path = tmp_path_factory.mktemp("play") / "counter_raw.fif"
    raw.save(path, verbose="error")
    return path


def test_counter_recording_reads_back(counter_fif: Path) -> None:
    rec = read_recording(counter_fif, eeg_only=False)
    assert rec.ch_names == ["C3", "Cz", "C4", "Oz", "counter"]
    assert rec.ch_types[-1] == "misc" and rec.units[-1] == ""
    np.testing.assert_array_equal(rec.data[:, -1], np.arange(COUNTER_SECONDS * 160))


# ------------------------------------------------------------------ in process
@pytest.mark.timeout(60)
def test_play_physionet_edf_over_lsl(shared_eeg: Path, uid: str) -> None:
    import pylsl

    from neuroadapt.lsl import channel_labels, channel_types

    rec = read_recording(shared_eeg / PHYSIONET)
    player = RecordingPlayer(
        rec, name=f"play-{uid}", source_id=uid, speed=20.0, duration=4.0, quiet=True
    )
    player.open()
    eeg = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", uid, 1, 5.0)[0])
    markers = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", f"{uid}-markers", 1, 5.0)[0])
    info = eeg.info(5.0)
    eeg.open_stream(5.0)
    markers.open_stream(5.0)
    with player.start():
        data, stamps = pull_all(eeg, rec.n_channels, time.monotonic() + 20, 4 * 160)
        marks, mark_stamps = markers.pull_chunk(timeout=2.0)
    assert info.name() == f"play-{uid}" and info.type() == "EEG"
    assert info.nominal_srate() == 160.0 and info.channel_count() == 64
    assert channel_labels(info) == rec.ch_names
    assert set(channel_types(info)) == {"eeg"}
    assert info.desc().child("channels").child("channel").child_value("unit") == "microvolts"
    np.testing.assert_array_equal(data, rec.data[: 4 * 160].astype(np.float32))
    # 20 times faster: timestamps 1/3200 s apart, the nominal rate unchanged.
    np.testing.assert_allclose(np.diff(stamps), 1 / 3200, atol=1e-6)
    # S001R01's one annotation, T0 at 0 s, stamped with the first sample.
    assert marks == [["T0"]] and mark_stamps[0] == pytest.approx(stamps[0], abs=1e-6)


@pytest.mark.timeout(60)
def test_loop_restarts_and_marks_each_pass(counter_fif: Path, uid: str) -> None:
    import pylsl

    rec = read_recording(counter_fif, eeg_only=False)
    player = RecordingPlayer(
        rec,
        name=f"loop-{uid}",
        source_id=uid,
        speed=20.0,
        start=2.0,
        duration=1.0,
        loop=True,
        quiet=True,
    )
    player.open()
    eeg = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", uid, 1, 5.0)[0])
    markers = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", f"{uid}-markers", 1, 5.0)[0])
    eeg.open_stream(5.0)
    markers.open_stream(5.0)
    with player.start():
        data, stamps = pull_all(eeg, rec.n_channels, time.monotonic() + 20, 3 * 160 + 10)
        marks, mark_stamps = markers.pull_chunk(timeout=1.0)  # before the outlet is gone
    counter = data[:, -1]
    one_pass = np.arange(320, 480, dtype=np.float32)  # seconds 2 to 3 of the file
    np.testing.assert_array_equal(counter[: 3 * 160], np.tile(one_pass, 3))
    # T1 at 2.5 s in each pass, and "loop N" at the first sample of pass N.
    texts = [m[0] for m in marks]
    assert texts[:5] == ["T1", "loop 2", "T1", "loop 3", "T1"]
    assert mark_stamps[1] == pytest.approx(stamps[160], abs=1e-6)
    assert mark_stamps[2] == pytest.approx(stamps[160 + 80], abs=1e-6)


def test_bad_options_are_config_errors(counter_fif: Path) -> None:
    rec = read_recording(counter_fif, eeg_only=False)
    for kwargs, field in (
        ({"speed": 0.0}, "--speed"),
        ({"speed": float("nan")}, "--speed"),
        ({"start": 10.0}, "--start"),
        ({"duration": -1.0}, "--duration"),
        ({"name": " "}, "--name"),
    ):
        with pytest.raises(ConfigError, match=field):
            RecordingPlayer(rec, **{"name": "x", **kwargs})


# ------------------------------------------------------------------ the command
@pytest.mark.timeout(60)
def test_bad_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("this is not an EDF file\n" * 20)
    proc = run_cli("play", str(path))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuroadapt: error: ") and "notes.edf" in err
    proc = run_cli("play", str(tmp_path / "missing.edf"), "--speed", "-2")
    _, err = proc.communicate(timeout=30)
    assert (
        proc.returncode == 1
        and err.strip() == "neuroadapt: error: --speed: must be a positive number, got -2"
    )


@pytest.mark.timeout(90)
def test_sample_integrity_through_play_lsl_and_labrecorder(
    counter_fif: Path, tmp_path: Path, uid: str
) -> None:
    import pyxdf

    from neuroadapt.record.recorder import SessionRecorder

    rec = read_recording(counter_fif, eeg_only=False)
    n = rec.n_samples
    proc = run_cli(
        "play",
        str(counter_fif),
        "--speed",
        "4",
        "--name",
        f"int-{uid}",
        "--source-id",
        uid,
        "--wait",
        "30",
    )
    path = tmp_path / "played.xdf"
    recorder = SessionRecorder(path, [{"source_id": uid}, {"source_id": f"{uid}-markers"}])
    try:
        line = read_line(proc, 20)
        assert line.startswith(f"streaming int-{uid}: 5 ch @ 160 Hz, 10.0 s from counter_raw")
        assert "3 markers" in line
        recorder.start(timeout=20)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        recorder.stop()
    streams, _ = pyxdf.load_xdf(str(path))
    by_name = {s["info"]["name"][0]: s for s in streams}
    eeg = by_name[f"int-{uid}"]
    assert float(eeg["info"]["nominal_srate"][0]) == 160.0
    counter = eeg["time_series"][:, -1]
    # Nothing dropped, nothing repeated, nothing added.
    np.testing.assert_array_equal(counter, np.arange(n, dtype=np.float32))
    np.testing.assert_array_equal(eeg["time_series"], rec.data.astype(np.float32))
    # 4 times faster than the file's rate, on the LSL clock.
    assert eeg["info"]["effective_srate"] == pytest.approx(640, rel=1e-3)
    marks = by_name[f"int-{uid}-markers"]
    assert [m[0] for m in marks["time_series"]] == list(MARKERS.values())
    for onset, t in zip(MARKERS, marks["time_stamps"], strict=True):
        assert t == pytest.approx(eeg["time_stamps"][round(onset * 160)], abs=2e-3)

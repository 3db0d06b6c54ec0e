"""Export round trips: a real recorded session to FIF, EDF and BIDS, read back with MNE."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest
from mne_bids import BIDSPath, read_raw_bids

from neuroadapt.cli import main
from neuroadapt.errors import ConfigError
from neuroadapt.record.export import (
    annotations_from_markers,
    bids_label,
    export_session,
    load_session_raw,
)
from tests.conftest import DEMO_DURATION

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def source(recorded_session):
    """The session's EEG and annotations as exported (the reference for comparisons)."""
    raw, meta, _ = load_session_raw(recorded_session, echo=lambda _s: None)
    return raw, meta


def _same_events(read: mne.Annotations, ref: mne.Annotations, sfreq: float) -> None:
    keep = [i for i, d in enumerate(read.description) if d != "BAD_ACQ_SKIP"]  # EDF padding
    assert list(read.description[keep]) == list(ref.description)
    assert np.abs(read.onset[keep] - ref.onset).max() <= 1 / sfreq
    assert np.abs(read.duration[keep] - ref.duration).max() <= 1 / sfreq


def test_the_session_becomes_annotated_volts(source):
    raw, _ = source
    assert raw.ch_names == ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]
    assert raw.info["sfreq"] == 250 and raw.info["line_freq"] == 50
    # Volts: simulated EEG is tens of µV.
    assert 1e-6 < np.abs(raw.get_data()).max() < 1e-3
    desc = list(raw.annotations.description)
    assert desc.count("phase/baseline") == 1 and desc.count("phase/training") == 1
    phase = raw.annotations[desc.index("phase/training")]
    assert phase["duration"] == pytest.approx(DEMO_DURATION * 600 / 720, abs=0.3)
    rewards = [a for a in raw.annotations if a["description"] == "reward"]
    assert rewards and all(a["duration"] >= 0.5 - 1e-3 for a in rewards)  # min_dwell


def test_fif_round_trip_is_exact(recorded_session, source, tmp_path, capsys):
    raw, _ = source
    assert main(["export", str(recorded_session), "--to", "fif", "--dest", str(tmp_path)]) == 0
    assert "export: writing" in capsys.readouterr().err
    (path,) = tmp_path.glob("*.fif")
    assert (
        path.name
        == "sub-S01_ses-" + recorded_session.name.split("_")[0] + "_task-alpharelax_eeg.fif"
    )
    back = mne.io.read_raw_fif(path, preload=True, verbose="error")
    assert back.ch_names == raw.ch_names
    np.testing.assert_array_equal(back.get_data(), raw.get_data())  # saved as float64
    _same_events(back.annotations, raw.annotations, raw.info["sfreq"])
    assert "alpha_relax" in back.info["description"]


def test_edf_round_trip_within_quantisation(recorded_session, source, tmp_path):
    raw, _ = source
    path = export_session(recorded_session, "edf", tmp_path, echo=lambda _s: None)
    back = mne.io.read_raw_edf(path, preload=True, verbose="error")
    x = raw.get_data()
    # EDF stores 16-bit integers over the physical range (one range for all channels).
    step = (x.max() - x.min()) / 65535
    y = back.get_data()[:, : x.shape[1]]  # EDF pads the last data record
    assert np.abs(y - x).max() <= step
    _same_events(back.annotations, raw.annotations, raw.info["sfreq"])


def test_bids_round_trip_and_sidecar(recorded_session, source, tmp_path):
    raw, meta = source
    path = export_session(recorded_session, "bids", tmp_path, echo=lambda _s: None)
    ses = recorded_session.name.split("_")[0]
    bids_path = BIDSPath(
        subject="S01", session=ses, task="alpharelax", datatype="eeg", root=tmp_path
    )
    assert path == bids_path.copy().update(suffix="eeg", extension=".edf").fpath
    back = read_raw_bids(bids_path, verbose="error")
    x = raw.get_data()
    step = (x.max() - x.min()) / 65535
    assert np.abs(back.get_data()[:, : x.shape[1]] - x).max() <= step
    _same_events(back.annotations, raw.annotations, raw.info["sfreq"])
    sidecar = json.loads(bids_path.copy().update(suffix="eeg", extension=".json").fpath.read_text())
    assert sidecar["NeuroadaptProtocol"]["sha256"] == meta["protocol"]["sha256"]
    assert sidecar["PowerLineFrequency"] == 50 and sidecar["TaskName"] == "alpharelax"
    assert sidecar["SoftwareVersions"].startswith("neuroadapt ")
    events = bids_path.copy().update(suffix="events", extension=".tsv").fpath.read_text()
    assert "phase/training" in events and "reward" in events


def test_export_never_overwrites_unless_asked(recorded_session, tmp_path, capsys):
    args = ["export", str(recorded_session), "--to", "fif", "--dest", str(tmp_path)]
    assert main(args) == 0
    (path,) = tmp_path.glob("*.fif")
    before = path.stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("neuroadapt: error: ") and "exists already" in err[-1]
    assert path.stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0


def test_markers_become_annotations():
    events = [
        (10.0, {"event": "session_start"}),
        (10.0, {"event": "phase_start", "phase": "baseline", "kind": "baseline"}),
        (11.0, {"event": "hold_start", "reason": "blink: Fz"}),
        (11.5, {"event": "hold_end"}),
        (12.0, {"event": "note", "text": "a name could be here"}),
        (12.5, {"event": "quality", "channel": "O1", "level": "bad"}),
        (13.0, {"event": "phase_end", "phase": "baseline"}),
        (13.0, {"event": "phase_start", "phase": "training", "kind": "training"}),
        (14.0, {"event": "reward_start"}),
        (99.0, {"event": "session_end"}),
    ]  # after the data: left out
    ann = annotations_from_markers(events, t_ref=9.0, t_last=16.0)
    got = {
        (d, round(o, 3), round(u, 3))
        for d, o, u in zip(ann.description, ann.onset, ann.duration, strict=True)
    }
    assert got == {
        ("session_start", 1.0, 0.0),
        ("phase/baseline", 1.0, 3.0),
        ("hold", 2.0, 0.5),
        ("note", 3.0, 0.0),
        ("quality/O1/bad", 3.5, 0.0),
        ("phase/training", 4.0, 3.0),
        ("reward", 5.0, 2.0),
    }


def test_bids_labels_keep_letters_and_digits():
    assert bids_label("S-01_a") == "S01a"
    with pytest.raises(ConfigError):
        bids_label("--")

"""Reading recordings (neuroadapt.sources.files) against the real files in ../shared/data/eeg.

Expected values come from ../shared/data/eeg/SOURCES.md, which was verified with
MNE and pyxdf independently of this reader.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import mne
import numpy as np
import pytest
import pyxdf
from scipy.signal import welch

from neuroadapt.errors import NeuroadaptError
from neuroadapt.profiles import load_profile
from neuroadapt.sources.base import Source
from neuroadapt.sources.channels import match_channels
from neuroadapt.sources.files import (
    Annotation,
    FileSource,
    Recording,
    RecordingError,
    read_recording,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eeg"
ALL_FILES = (
    sorted(
        str(p.relative_to(SHARED))
        for p in SHARED.rglob("*")
        if p.is_file() and not p.name.startswith(("LICENSE", "SOURCES"))
    )
    if SHARED.is_dir()
    else []
)
PHYSIONET = "physionet_eegmmidb"
MNE_DATA = "mne_python_testdata"
BCI = "xdf_bci_essentials"
MISWITCH = f"{BCI}/sub-P001_ses-S001_task-MISwitch_run-002_eeg.xdf"
DSI7 = f"{BCI}/ssvep_example_dsi7.xdf"
EXAMPLES = "xdf_example_files"
OPENBCI = "openbci_gui/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
ARFF = "uci_eeg_eye_state/eeg_eye_state.arff"


def assert_one_line_naming(exc: BaseException, path: Path | str) -> str:
    """The contract of every RecordingError: one line that names the file."""
    assert isinstance(exc, RecordingError)
    assert isinstance(exc, NeuroadaptError)
    msg = str(exc)
    assert msg and "\n" not in msg
    assert Path(path).name in msg, msg
    assert "Traceback" not in msg
    return msg


def assert_sane(rec: Recording) -> None:
    n, n_ch = rec.data.shape
    assert n > 0 and n_ch > 0
    assert rec.data.dtype == np.float64 and rec.data.flags.c_contiguous
    assert np.isfinite(rec.data).all()
    assert rec.times.shape == (n,) and rec.times.dtype == np.float64
    assert rec.times[0] == 0.0 and np.all(np.diff(rec.times) > 0)
    assert rec.sfreq > 0
    assert len(rec.ch_names) == len(rec.original_names) == len(rec.ch_types) == n_ch
    assert len(rec.units) == n_ch
    assert len(set(rec.ch_names)) == n_ch
    onsets = [a.onset for a in rec.annotations]
    assert onsets == sorted(onsets)
    assert all(a.duration >= 0 for a in rec.annotations)
    assert all(isinstance(w, str) and "\n" not in w for w in rec.warnings)


# ------------------------------------------------------------------ every file
@pytest.mark.parametrize("rel", ALL_FILES)
def test_every_shared_file_loads_or_raises_recording_error(shared_eeg: Path, rel: str) -> None:
    path = shared_eeg / rel
    try:
        rec = read_recording(path)
    except RecordingError as exc:
        assert_one_line_naming(exc, path)
        return
    assert_sane(rec)
    assert rec.path == path
    raw = rec.to_raw()
    assert raw.get_data().shape == rec.data.T.shape


def test_the_walk_found_the_documented_files() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"real EEG recordings not found at {SHARED}")
    assert len(ALL_FILES) >= 18
    assert {MISWITCH, DSI7, OPENBCI, ARFF, f"{PHYSIONET}/S001R01.edf"} <= set(ALL_FILES)


# ------------------------------------------------------------------ PhysioNet EDF+
def test_physionet_s001r01(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / PHYSIONET / "S001R01.edf")
    assert rec.format == "edf"
    assert rec.data.shape == (9760, 64)
    assert rec.sfreq == 160.0
    assert rec.duration == pytest.approx(61.0)
    assert {"O1", "Oz", "O2", "Fp1", "FCz", "Iz"} <= set(rec.ch_names)
    assert rec.original_names[rec.ch_names.index("O1")] == "O1.."
    assert rec.original_names[rec.ch_names.index("FCz")] == "Fcz."
    assert set(rec.ch_types) == {"eeg"} and set(rec.units) == {"µV"}
    assert [a.description for a in rec.annotations] == ["T0"]
    assert rec.annotations[0].onset == 0.0
    assert rec.annotations[0].duration == pytest.approx(60.2, abs=0.05)
    # µV, not volts: EEG at this amplitude has a spread of tens of µV.
    assert 5 < np.median(np.std(rec.data, axis=0)) < 500


def test_physionet_task_run_annotations(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / PHYSIONET / "S001R03.edf")
    assert rec.duration == pytest.approx(125.0)
    assert len(rec.annotations) == 30
    assert {a.description for a in rec.annotations} == {"T0", "T1", "T2"}
    assert all(3.9 < a.duration < 4.3 for a in rec.annotations)


def _relative_alpha(rec: Recording, channels: list[str]) -> float:
    cols = match_channels(channels, rec.ch_names, f"recording {rec.path.name}")
    x = rec.data[:, cols] - rec.data[:, cols].mean(axis=0)
    f, pxx = welch(x, fs=rec.sfreq, nperseg=int(2 * rec.sfreq), axis=0)
    alpha = pxx[(f >= 8) & (f <= 12)].sum(axis=0)
    total = pxx[(f >= 1) & (f <= 40)].sum(axis=0)
    return float(np.mean(alpha / total))


def test_eyes_closed_raise_occipital_alpha(shared_eeg: Path) -> None:
    """The positive control of SOURCES.md: R02 (closed) has ~5x the alpha of R01 (open)."""
    opened = read_recording(shared_eeg / PHYSIONET / "S001R01.edf")
    closed = read_recording(shared_eeg / PHYSIONET / "S001R02.edf")
    occipital = ["O1", "Oz", "O2"]
    a_open, a_closed = _relative_alpha(opened, occipital), _relative_alpha(closed, occipital)
    assert a_open == pytest.approx(0.124, abs=0.03)
    assert a_closed == pytest.approx(0.635, abs=0.05)
    assert a_closed > 3 * a_open


# ------------------------------------------------------------------ OpenBCI
def test_openbci_gui_file(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / OPENBCI)
    assert rec.format == "openbci"
    assert rec.data.shape == (22490, 8)
    assert rec.sfreq == 250.0
    assert rec.duration == pytest.approx(90.0, abs=0.1)
    assert rec.ch_names == ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
    assert rec.original_names == [f"EXG Channel {k}" for k in range(8)]
    # The layout is OpenBCI's default, an assumption the recording must admit to.
    assert any("assumed" in w and "openbci-cyton-8" in w for w in rec.warnings)
    assert rec.data[0, 0] == pytest.approx(61379.36)
    assert rec.annotations == []  # the file's Marker Channel is all zeros


def test_openbci_alpha_block_is_on_the_assumed_occipital_channels(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / OPENBCI)
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [1, 40], btype="bandpass", fs=rec.sfreq, output="sos")
    clean = Recording(**{**rec.__dict__, "data": sosfiltfilt(sos, rec.data, axis=0)})

    def segment(t0: float, t1: float) -> Recording:
        keep = (rec.times >= t0) & (rec.times < t1)
        return Recording(**{**clean.__dict__, "data": clean.data[keep], "times": rec.times[keep]})

    before = _relative_alpha(segment(0, 24), ["O1", "O2"])
    during = _relative_alpha(segment(28, 60), ["O1", "O2"])
    assert during > 2.5 * before


def test_openbci_without_the_default_profile_keeps_exg_names(
    shared_eeg: Path, tmp_path: Path, monkeypatch
) -> None:
    # A profile without a channel map names the EXG inputs by position.
    text = (Path(load_profile("openbci-cyton-8").path)).read_text()
    text = text.split("\n[channel_map]\n")[0]
    (tmp_path / "cyton-plain.toml").write_text(text)
    rec = read_recording(shared_eeg / OPENBCI, profile=tmp_path / "cyton-plain.toml")
    assert rec.ch_names == ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
    assert not any("assumed" in w for w in rec.warnings)
    # With no profile to be found at all, the file's own names stay.
    monkeypatch.setattr("neuroadapt.profiles.search_path", lambda kind: [tmp_path / "none"])
    rec = read_recording(shared_eeg / OPENBCI)
    assert rec.ch_names == [f"EXG Channel {k}" for k in range(8)]
    assert any("not found" in w for w in rec.warnings)


def test_openbci_cut_last_line_is_forgiven_a_bad_middle_line_is_not(
    shared_eeg: Path, tmp_path: Path
) -> None:
    lines = (shared_eeg / OPENBCI).read_text().splitlines()
    cut = tmp_path / "cut.txt"
    cut.write_text("\n".join([*lines[:105], lines[105][:30]]) + "\n")
    rec = read_recording(cut)
    assert rec.n_samples == 100  # 5 header lines, 100 whole sample lines
    assert any("last line is incomplete" in w for w in rec.warnings)
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join([*lines[:50], lines[50][:30], *lines[51:200]]) + "\n")
    with pytest.raises(RecordingError) as info:
        read_recording(bad)
    assert_one_line_naming(info.value, bad)


def test_openbci_marker_column_becomes_annotations(shared_eeg: Path, tmp_path: Path) -> None:
    lines = (shared_eeg / OPENBCI).read_text().splitlines()[:305]
    for k, code in ((5 + 10, "1"), (5 + 11, "1"), (5 + 250, "3")):
        cells = lines[k].split(",")
        cells[-2] = code
        lines[k] = ",".join(cells)
    f = tmp_path / "marked.txt"
    f.write_text("\n".join(lines) + "\n")
    rec = read_recording(f)
    assert [(a.onset, a.description) for a in rec.annotations] == [(10 / 250, "1"), (1.0, "3")]
    assert {a.source for a in rec.annotations} == {"Marker Channel"}


# ------------------------------------------------------------------ XDF (real EEG)
def test_miswitch_xdf(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / MISWITCH)
    assert rec.format == "xdf"
    assert rec.data.shape == (30992, 16)
    assert rec.sfreq == 256.0
    assert rec.ch_names == list(load_profile("gusbamp-16").channels)
    assert set(rec.units) == {"µV"}
    unity = [a for a in rec.annotations if a.source == "UnityMarkerStream"]
    assert len(unity) == 83
    assert unity[0].description == "Trial Started"
    assert {a.description for a in unity} >= {"Trial Started", "Trial Ends", "Training Complete"}
    assert sum(a.source == "PythonResponse" for a in rec.annotations) == 556
    # times are seconds from the first sample; t0 keeps the LSL clock.
    streams, _ = pyxdf.load_xdf(str(shared_eeg / MISWITCH))
    eeg = next(s for s in streams if s["info"]["type"][0] == "EEG")
    np.testing.assert_allclose(rec.t0 + rec.times, eeg["time_stamps"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(rec.data, eeg["time_series"].astype(np.float64))
    marker_times = next(s for s in streams if s["info"]["name"][0] == "UnityMarkerStream")
    np.testing.assert_allclose(
        [a.onset for a in unity], marker_times["time_stamps"] - rec.t0, atol=1e-9
    )


def test_dsi7_xdf_with_and_without_its_profile(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / DSI7)
    assert rec.data.shape == (33002, 8)
    assert rec.sfreq == 300.0
    assert rec.ch_names == ["S2", "F4", "C4", "S3", "S1", "C3", "F3", "TRG"]
    assert sum(a.source == "Unity_SSVEP" for a in rec.annotations) == 258
    # With the profile, TRG is a trigger channel: dropped with eeg_only, kept as stim otherwise.
    rec = read_recording(shared_eeg / DSI7, profile="dsi-7")
    assert rec.ch_names == ["S2", "F4", "C4", "S3", "S1", "C3", "F3"]
    rec = read_recording(shared_eeg / DSI7, profile="dsi-7", eeg_only=False)
    assert rec.ch_types[rec.ch_names.index("TRG")] == "stim"
    assert rec.warnings == []


def test_stream_can_be_named(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / MISWITCH, stream="g.usbamp-1")
    assert rec.n_channels == 16
    with pytest.raises(RecordingError) as info:
        read_recording(shared_eeg / MISWITCH, stream="Muse")
    msg = assert_one_line_naming(info.value, MISWITCH)
    assert "no stream named 'Muse'" in msg and "'g.USBamp-1'" in msg and "'PythonResponse'" in msg
    with pytest.raises(RecordingError, match="holds strings"):
        read_recording(shared_eeg / MISWITCH, stream="UnityMarkerStream")


# ------------------------------------------------------------------ XDF edge cases
def test_minimal_xdf(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / EXAMPLES / "minimal.xdf")
    assert rec.data.shape == (9, 3)
    assert rec.sfreq == 10.0
    np.testing.assert_array_equal(rec.data[0], [192, 255, 238])  # int16 samples, as stored
    assert rec.ch_names == ["ch1", "ch2", "ch3"]
    assert rec.t0 == pytest.approx(5.0)
    np.testing.assert_allclose(rec.times, np.arange(9) / 10, atol=1e-9)
    assert any("does not label its channels" in w for w in rec.warnings)
    assert any("assumed µV" in w for w in rec.warnings)
    assert [a.source for a in rec.annotations] == ["SendDataString"] * 9


def test_empty_streams_xdf(shared_eeg: Path) -> None:
    path = shared_eeg / EXAMPLES / "empty_streams.xdf"
    # Its only stream with samples is a 1 Hz counter typed "data" with a misc channel.
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = assert_one_line_naming(info.value, path)
    assert "no EEG channels" in msg and "'Data stream: test stream 0 counter'" in msg
    rec = read_recording(path, eeg_only=False)
    assert rec.data.shape == (10, 1)
    np.testing.assert_array_equal(rec.data[:, 0], np.arange(10))
    assert rec.ch_types == ["misc"]
    assert any("no stream is typed EEG" in w for w in rec.warnings)
    assert [(a.source, a.description) for a in rec.annotations] == [("ctrl", '{"state": 2}')]
    with pytest.raises(RecordingError, match="holds no samples"):
        read_recording(path, stream="Empty data stream: test stream 0 counter")


def test_clock_resets_xdf(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / EXAMPLES / "clock_resets.xdf")
    assert rec.data.shape == (27815, 8)
    assert rec.sfreq == 100.0
    assert sum(a.source == "MyMarkerStream" for a in rec.annotations) == 175
    # pyxdf joins the clock segments; the long pause in the recording is reported.
    assert np.all(np.diff(rec.times) > 0)
    assert rec.times[-1] > 500
    assert any("gap in the timestamps" in w for w in rec.warnings)
    assert any("effective rate" in w for w in rec.warnings)


def _with_streams(monkeypatch, edit) -> None:
    """Make pyxdf return an edited copy of a real file's streams."""
    real = pyxdf.load_xdf

    def fake(filename, *args, **kwargs):
        streams, header = real(filename, *args, **kwargs)
        return edit(streams), header

    monkeypatch.setattr(pyxdf, "load_xdf", fake)


def test_xdf_without_numeric_stream_is_refused(shared_eeg: Path, monkeypatch) -> None:
    _with_streams(
        monkeypatch, lambda ss: [s for s in ss if s["info"]["channel_format"][0] == "string"]
    )
    path = shared_eeg / MISWITCH
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = assert_one_line_naming(info.value, path)
    assert "no stream holds numeric samples" in msg and "'UnityMarkerStream'" in msg


def test_several_numeric_streams_none_typed_eeg_are_listed(shared_eeg: Path, monkeypatch) -> None:
    def edit(streams):
        eeg = next(s for s in streams if s["info"]["type"][0] == "EEG")
        twin = {**eeg, "info": {**eeg["info"], "name": ["g.USBamp-2"]}}
        for s in (eeg, twin):
            s["info"]["type"] = ["ExG"]
        return [*streams, twin]

    _with_streams(monkeypatch, edit)
    with pytest.raises(RecordingError) as info:
        read_recording(shared_eeg / MISWITCH)
    msg = assert_one_line_naming(info.value, MISWITCH)
    assert "no stream is typed EEG" in msg
    assert "'g.USBamp-1'" in msg and "'g.USBamp-2'" in msg and "stream=" in msg


def _add_eeg_twin(name: str):
    def edit(streams):
        eeg = next(s for s in streams if s["info"]["type"][0] == "EEG")
        twin = {
            **eeg,
            "info": {**eeg["info"], "name": [name]},
            "time_series": eeg["time_series"] * 0,
        }
        return [*streams, twin]

    return edit


def test_several_eeg_streams_need_a_choice(shared_eeg: Path, monkeypatch) -> None:
    _with_streams(monkeypatch, _add_eeg_twin("Other headset"))
    with pytest.raises(RecordingError) as info:
        read_recording(shared_eeg / DSI7)
    msg = assert_one_line_naming(info.value, DSI7)
    assert "2 EEG streams" in msg and "'DSI7'" in msg and "'Other headset'" in msg
    assert read_recording(shared_eeg / DSI7, stream="Other headset").data.max() == 0
    # A profile's stream-name hint picks its headset's stream.
    rec = read_recording(shared_eeg / DSI7, profile="dsi-7")
    assert rec.data.max() > 0 and rec.n_channels == 7


def test_xdf_units_in_volts_are_scaled(shared_eeg: Path, monkeypatch) -> None:
    def edit(streams):
        eeg = next(s for s in streams if s["info"]["type"][0] == "EEG")
        for ch in eeg["info"]["desc"][0]["channels"][0]["channel"]:
            ch["unit"] = ["volts"]
        eeg["time_series"] = eeg["time_series"] * 1e-6
        return streams

    reference = read_recording(shared_eeg / MISWITCH)
    _with_streams(monkeypatch, edit)
    rec = read_recording(shared_eeg / MISWITCH)
    np.testing.assert_allclose(rec.data, reference.data, rtol=1e-6, atol=1e-3)


# ------------------------------------------------------------------ MNE formats
def test_brainvision(shared_eeg: Path) -> None:
    path = shared_eeg / MNE_DATA / "testv2.vhdr"
    rec = read_recording(path, eeg_only=False)
    assert rec.format == "brainvision"
    assert rec.data.shape == (7900, 32)
    assert rec.sfreq == 1000.0
    assert rec.ch_names[:2] == ["Fp1", "Fp2"] and rec.original_names[:2] == ["FP1", "FP2"]
    descriptions = [a.description for a in rec.annotations]
    assert len(descriptions) == 12
    assert descriptions[0] == "Stimulus/S253" and rec.annotations[0].onset == pytest.approx(0.486)
    assert "Response/R255" in descriptions
    assert any(d.startswith("Comment/") for d in descriptions)
    # HL, HR, Vb, ReRef have no position; MNE types them misc, and eeg_only drops them.
    eeg = read_recording(path)
    assert eeg.n_channels == 28 and "HL" not in eeg.ch_names


def test_fif_stim_channel_events_become_annotations(shared_eeg: Path) -> None:
    path = shared_eeg / MNE_DATA / "test_bin_raw.fif"
    rec = read_recording(path)
    assert rec.data.shape == (7900, 32) and "STI 014" not in rec.ch_names
    assert len(rec.annotations) == 10
    assert {a.source for a in rec.annotations} == {"STI 014"}
    assert {a.description for a in rec.annotations} == {"253", "254", "255"}
    assert rec.annotations[0].onset == pytest.approx(0.486)
    both = read_recording(path, eeg_only=False)
    assert both.n_channels == 33 and both.ch_types[-1] == "stim" and both.units[-1] == ""


def test_edf_plus_biosemi(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / MNE_DATA / "test.edf")
    assert rec.data.shape == (3072, 138) and rec.sfreq == 512.0
    own = [a.description for a in rec.annotations if a.source == ""]
    assert sorted(set(own)) == ["start", "type A", "type B"] and len(own) == 5
    assert sum(a.source == "Status" for a in rec.annotations) == 13


def test_bdf(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / MNE_DATA / "test.bdf")
    assert rec.format == "bdf"
    assert rec.data.shape == (2048, 72) and rec.sfreq == 2048.0


def test_clinical_edf_types_and_names(shared_eeg: Path) -> None:
    path = shared_eeg / MNE_DATA / "test_edf_stim_channel.edf"
    full = read_recording(path, eeg_only=False)
    assert full.n_channels == 25 and full.sfreq == 128.0
    types = dict(zip(full.original_names, full.ch_types, strict=True))
    assert types["EOG VEOG_I"] == "eog" and types["ECG ECG1"] == "ecg"
    names = dict(zip(full.original_names, full.ch_names, strict=True))
    assert names["EEG Fp1"] == "Fp1" and names["EEG T3"] == "T3" and names["ECG ECG1"] == "ECG1"
    eeg = read_recording(path)
    assert "VEOG_I" not in eeg.ch_names and eeg.n_channels == 21
    # A headset profile's channel map renames the old temporal labels.
    mapped = read_recording(path, profile="generic-10-20")
    assert {"T7", "T8", "P7", "P8"} <= set(mapped.ch_names) and "T3" not in mapped.ch_names


# ------------------------------------------------------------------ ARFF
def test_uci_eye_state_arff(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / ARFF)
    assert rec.format == "arff"
    assert rec.data.shape == (14980, 14)
    assert rec.sfreq == 128.0
    assert rec.ch_names == "AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split()
    assert any("no sampling rate" in w and "emotiv-epoc" in w for w in rec.warnings)
    runs = rec.annotations
    assert len(runs) == 24
    assert {a.description for a in runs} == {"eyes_open", "eyes_closed"}
    assert all(a.description != b.description for a, b in pairwise(runs))
    assert sum(a.duration for a in runs) == pytest.approx(rec.duration)
    closed = sum(a.duration for a in runs if a.description == "eyes_closed") / rec.duration
    assert closed == pytest.approx(0.449, abs=0.001)
    assert rec.data[0, 0] == pytest.approx(4329.23)


# ------------------------------------------------------------------ corrupt input
@pytest.mark.parametrize("fraction", [0.0002, 0.005])
def test_edf_cut_in_its_header_is_refused(
    shared_eeg: Path, tmp_path: Path, fraction: float
) -> None:
    data = (shared_eeg / PHYSIONET / "S001R01.edf").read_bytes()
    path = tmp_path / "S001R01_cut.edf"
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert_one_line_naming(info.value, path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97, 0.9999])
def test_cut_edf_recovers_its_whole_records(
    shared_eeg: Path, tmp_path: Path, fraction: float
) -> None:
    source = shared_eeg / PHYSIONET / "S001R01.edf"
    full = read_recording(source)
    data = source.read_bytes()
    path = tmp_path / "S001R01_cut.edf"
    path.write_bytes(data[: int(len(data) * fraction)])
    rec = read_recording(path)
    assert 0 < rec.n_samples < full.n_samples
    assert rec.n_samples % 160 == 0  # whole one-second records only
    np.testing.assert_array_equal(rec.data, full.data[: rec.n_samples])
    assert any(w.startswith("file cut: ") for w in rec.warnings), rec.warnings


@pytest.mark.parametrize("fraction", [0.0001, 0.0005])
def test_xdf_cut_before_any_stream_header_is_refused(
    shared_eeg: Path, tmp_path: Path, fraction: float
) -> None:
    data = (shared_eeg / MISWITCH).read_bytes()
    path = tmp_path / "cut.xdf"
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert_one_line_naming(info.value, path)


@pytest.mark.parametrize("fraction", [0.002, 0.3, 0.5, 0.999, 0.99999])
def test_cut_xdf_recovers_a_prefix_and_says_so(
    shared_eeg: Path, tmp_path: Path, fraction: float
) -> None:
    full = read_recording(shared_eeg / MISWITCH)
    data = (shared_eeg / MISWITCH).read_bytes()
    path = tmp_path / "cut.xdf"
    path.write_bytes(data[: int(len(data) * fraction)])
    rec = read_recording(path)
    assert 0 < rec.n_samples <= full.n_samples
    np.testing.assert_array_equal(rec.data, full.data[: rec.n_samples])
    assert any(w.startswith("file cut at byte") for w in rec.warnings), rec.warnings


def test_xdf_without_footers_loads_and_says_so(shared_eeg: Path, tmp_path: Path) -> None:
    # minimal.xdf cut just before its first stream footer: every chunk left is
    # whole, so only the missing footers tell.
    from neuroadapt.record.xdfio import scan_xdf

    data = (shared_eeg / EXAMPLES / "minimal.xdf").read_bytes()
    footer = next(c for c in scan_xdf(data).chunks if c.tag == 6)  # StreamFooter
    path = tmp_path / "no_footer.xdf"
    path.write_bytes(data[: footer.offset])
    rec = read_recording(path)
    assert rec.n_samples > 0
    assert any("no StreamFooter" in w for w in rec.warnings), rec.warnings


def test_text_renamed_edf(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("this is not an EDF file\n" * 20)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert "cannot read as EDF" in assert_one_line_naming(info.value, path)


@pytest.mark.parametrize("suffix", [".bdf", ".vhdr", ".fif", ".set", ".xdf", ".arff"])
def test_garbage_in_every_format_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert_one_line_naming(info.value, path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.edf"
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert "no such file" in assert_one_line_naming(info.value, path)


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="is a folder"):
        read_recording(tmp_path)


@pytest.mark.parametrize("name", ["data.mat", "recording", "x.gdf"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = assert_one_line_naming(info.value, path)
    assert "unknown recording format" in msg and ".xdf" in msg


def test_text_file_that_is_not_openbci(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("time,value\n0,1\n")
    with pytest.raises(RecordingError, match="not an OpenBCI GUI recording"):
        read_recording(path)


def test_brainvision_companions_point_to_the_header(shared_eeg: Path) -> None:
    for name in ("test.eeg", "testv2.vmrk"):
        with pytest.raises(RecordingError) as info:
            read_recording(shared_eeg / MNE_DATA / name)
        assert "testv2.vhdr" in assert_one_line_naming(info.value, name)


def test_brainvision_header_without_its_data_file(shared_eeg: Path, tmp_path: Path) -> None:
    header = tmp_path / "testv2.vhdr"
    header.write_bytes((shared_eeg / MNE_DATA / "testv2.vhdr").read_bytes())
    with pytest.raises(RecordingError) as info:
        read_recording(header)
    assert_one_line_naming(info.value, header)


def test_stream_argument_is_for_xdf_only(shared_eeg: Path) -> None:
    with pytest.raises(RecordingError, match="XDF files only"):
        read_recording(shared_eeg / PHYSIONET / "S001R01.edf", stream="EEG")


def test_unknown_profile_is_a_recording_error(shared_eeg: Path) -> None:
    with pytest.raises(RecordingError) as info:
        read_recording(shared_eeg / OPENBCI, profile="no-such-headset")
    assert "no-such-headset" in assert_one_line_naming(info.value, OPENBCI)


# ------------------------------------------------------------------ round trips through MNE
def _fif(tmp_path: Path, names: list[str], types: list[str] | None = None) -> Path:
    rng = np.random.default_rng(7)
    info = mne.create_info(names, 250.0, types or "eeg")
    raw = mne.io.RawArray(rng.normal(0, 20e-6, (len(names), 500)), info, verbose="error")
    raw.set_annotations(mne.Annotations([0.5, 1.0], [0.0, 0.25], ["a", "b"]))
    path = tmp_path / "made_raw.fif"
    raw.save(path, fmt="double", overwrite=True, verbose="error")
    return path


def test_fif_names_are_normalised_on_read(tmp_path: Path) -> None:
    path = _fif(tmp_path, ["EEG Fp1-REF", "O2..", "FZ", "EEG 004"])
    rec = read_recording(path)
    assert rec.ch_names == ["Fp1", "O2", "Fz", "EEG 004"]
    assert rec.original_names == ["EEG Fp1-REF", "O2..", "FZ", "EEG 004"]
    assert [(a.onset, a.duration, a.description) for a in rec.annotations] == [
        (0.5, 0.0, "a"),
        (1.0, 0.25, "b"),
    ]


def test_duplicate_names_in_a_file_are_refused(tmp_path: Path) -> None:
    path = _fif(tmp_path, ["Fp1", "Cz", "EEG FP1"])
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = assert_one_line_naming(info.value, path)
    assert "'Fp1'" in msg and "'EEG FP1'" in msg


def test_to_raw_round_trip(shared_eeg: Path, tmp_path: Path) -> None:
    rec = read_recording(shared_eeg / PHYSIONET / "S001R03.edf")
    raw = rec.to_raw()
    assert raw.ch_names == rec.ch_names and raw.info["sfreq"] == rec.sfreq
    np.testing.assert_allclose(raw.get_data(), rec.data.T * 1e-6)
    assert len(raw.annotations) == 30
    path = tmp_path / "again_raw.fif"
    raw.save(path, fmt="double", verbose="error")
    back = read_recording(path)
    np.testing.assert_allclose(back.data, rec.data, rtol=1e-12)
    assert [a.description for a in back.annotations] == [a.description for a in rec.annotations]
    np.testing.assert_allclose(
        [a.onset for a in back.annotations], [a.onset for a in rec.annotations], atol=1e-9
    )


def test_eeglab_set_is_read_through_mne(tmp_path: Path) -> None:
    pytest.importorskip("eeglabio", reason="writing an EEGLAB file needs eeglabio")
    rec_path = _fif(tmp_path, ["Fp1", "O1", "O2"])
    raw = mne.io.read_raw(rec_path, preload=True, verbose="error")
    out = tmp_path / "made.set"
    raw.export(out, verbose="error")
    rec = read_recording(out)
    assert rec.format == "eeglab" and rec.ch_names == ["Fp1", "O1", "O2"]
    np.testing.assert_allclose(rec.data, raw.get_data().T * 1e6, rtol=1e-5)


# ------------------------------------------------------------------ FileSource
def test_file_source_returns_the_recording_once_in_chunks(shared_eeg: Path) -> None:
    rec = read_recording(shared_eeg / PHYSIONET / "S001R01.edf")
    src = FileSource(rec, chunk=333)
    assert isinstance(src, Source)
    assert src.ch_names == rec.ch_names and src.sfreq == 160.0 and src.n_channels == 64
    datas, stamps, sizes = [], [], []
    while not src.exhausted:
        data, ts = src.pull()
        assert data.shape == (len(ts), 64)
        sizes.append(len(ts))
        datas.append(data)
        stamps.append(ts)
    assert sizes[:-1] == [333] * (len(sizes) - 1) and 0 < sizes[-1] <= 333
    assert src.position == rec.n_samples
    np.testing.assert_array_equal(np.concatenate(datas), rec.data)
    ts = np.concatenate(stamps)
    np.testing.assert_array_equal(ts, rec.times)
    assert np.all(np.diff(ts) > 0)
    data, ts = src.pull()  # exhausted: nothing more, ever
    assert data.shape == (0, 64) and ts.shape == (0,)


def test_file_source_replays_xdf_on_its_lsl_clock(shared_eeg: Path) -> None:
    src = FileSource.from_file(shared_eeg / MISWITCH)
    assert src.chunk == round(256 / 10)
    data, ts = src.pull()
    assert len(ts) == src.chunk
    assert ts[0] == pytest.approx(src.recording.t0) and ts[0] > 1e6
    data[:] = 0  # the caller owns what it got
    assert np.any(src.recording.data[: src.chunk] != 0)


def test_file_source_chunk_must_be_positive() -> None:
    rec = Recording(
        data=np.zeros((4, 1)), times=np.arange(4) / 2.0, sfreq=2.0, ch_names=["Cz"],
        original_names=["Cz"], ch_types=["eeg"], units=["µV"], annotations=[],
        path=Path("x.edf"), format="edf",
    )  # fmt: skip
    with pytest.raises(ValueError, match="chunk"):
        FileSource(rec, chunk=0)
    src = FileSource(rec, chunk=3)
    assert [len(src.pull()[1]) for _ in range(3)] == [3, 1, 0]
    assert repr(rec).startswith("<Recording x.edf (edf): 1 ch x 4 samples")
    assert Annotation(0.0, 0.0, "x").source == ""

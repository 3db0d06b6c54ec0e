"""Cut EDF files: every whole data record is recovered, or a one-line RecordingError.

A small real EDF (4 channels, 5 one-second records of PhysioNet S001R01, with
annotations) is written by MNE's exporter (edfio) and cut at every byte of its
header and first data record, at every record boundary and one byte either
side, and on a stride through the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroadapt.sources.files import Recording, RecordingError, read_recording

PHYSIONET = "physionet_eegmmidb/S001R01.edf"
CHANNELS = ["C3..", "Cz..", "C4..", "Oz.."]
SECONDS = 5


@pytest.fixture(scope="module")
def small_edf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import mne

    from tests.conftest import SHARED_EEG

    if not (SHARED_EEG / PHYSIONET).is_file():
        pytest.skip("PhysioNet S001R01.edf not found")
    raw = mne.io.read_raw(SHARED_EEG / PHYSIONET, preload=True, verbose="error")
    raw.pick(CHANNELS).crop(0, SECONDS, include_tmax=False)
    raw.set_annotations(mne.Annotations([0.5, 2.0, 4.5], [0.0, 1.0, 0.0], ["T0", "T1", "T2"]))
    path = tmp_path_factory.mktemp("edf") / "small.edf"
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    return path


def layout(data: bytes) -> tuple[int, int, int]:
    """Header bytes, record bytes and record count, from the EDF header."""
    n_signals = int(data[252:256])
    counts = data[256 + 216 * n_signals : 256 + 224 * n_signals]
    per_record = sum(int(counts[8 * i : 8 * i + 8]) for i in range(n_signals))
    return int(data[184:192]), 2 * per_record, int(data[236:244])


def check_cut(path: Path, cut: int, full: Recording, data: bytes) -> str:
    header, record, n_records = layout(data)
    path.write_bytes(data[:cut])
    if cut < header + record:
        with pytest.raises(RecordingError) as info:
            read_recording(path)
        msg = str(info.value)
        assert "\n" not in msg and path.name in msg
        assert ("inside its header" if cut < header else "before its first whole data") in msg
        return "refused"
    rec = read_recording(path)
    present = (cut - header) // record
    n = present * round(full.sfreq)
    # Exactly the whole records: never a zero-padded or partial one.
    assert rec.n_samples == n, cut
    np.testing.assert_array_equal(rec.data, full.data[:n])
    assert rec.ch_names == full.ch_names
    assert [a.description for a in rec.annotations] == [
        a.description for a in full.annotations if a.onset < present
    ]
    if present < n_records:
        assert (
            f"file cut: {present} of {n_records} data records present, {present:g} s"
            in (rec.warnings[0])
        )
    if (cut - header) % record:
        assert any("incomplete data record" in w for w in rec.warnings)
    elif cut == len(data):
        assert rec.warnings == []
    return "recovered"


def test_every_cut_of_a_small_real_edf(small_edf: Path, tmp_path: Path) -> None:
    data = small_edf.read_bytes()
    header, record, n_records = layout(data)
    assert n_records == SECONDS and len(data) == header + n_records * record
    full = read_recording(small_edf)
    assert full.n_samples == SECONDS * 160 and full.warnings == []
    boundaries = {header + k * record + d for k in range(n_records + 1) for d in (-1, 0, 1)}
    cuts = set(range(header + record + 1)) | boundaries | set(range(0, len(data) + 1, 23))
    path = tmp_path / "cut.edf"
    outcome = {"refused": 0, "recovered": 0}
    for cut in sorted(c for c in cuts if 0 <= c <= len(data)):
        outcome[check_cut(path, cut, full, data)] += 1
    assert outcome["refused"] == header + record
    assert outcome["recovered"] > 2 * n_records


def test_unfinished_edf_without_record_count(small_edf: Path, tmp_path: Path) -> None:
    # A recorder writes -1 records until it finishes the file (EDF+ specification).
    data = bytearray(small_edf.read_bytes())
    data[236:244] = b"-1      "
    header, record, _ = layout(bytes(data))
    path = tmp_path / "unfinished.edf"
    path.write_bytes(bytes(data[: header + 3 * record + 100]))
    rec = read_recording(path)
    full = read_recording(small_edf)
    assert rec.n_samples == 3 * 160
    np.testing.assert_array_equal(rec.data, full.data[: 3 * 160])
    assert rec.warnings == [
        "the header gives no record count (the recorder did not finish the file); read the "
        "3 whole data records (3 s)",
        "the last 100 bytes are an incomplete data record (100 of 1296 bytes); left out",
    ]

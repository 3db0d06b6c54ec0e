"""Host names and addresses leave the stream headers; the data stay byte for byte."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from neuroadapt.record.anonymise import anonymise_xdf
from neuroadapt.record.xdfio import load_xdf_robust, scan_xdf

SSVEP = "xdf_bci_essentials/ssvep_example_dsi7.xdf"


def streams_equal(a: list[dict], b: list[dict]) -> None:
    assert [s["info"]["name"] for s in a] == [s["info"]["name"] for s in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["time_stamps"], y["time_stamps"])
        if isinstance(x["time_series"], np.ndarray):
            np.testing.assert_array_equal(x["time_series"], y["time_series"])
        else:
            assert x["time_series"] == y["time_series"]


def test_a_real_file_loses_its_host_name_and_nothing_else(shared_eeg: Path, tmp_path: Path):
    path = tmp_path / "rec.xdf"
    shutil.copy(shared_eeg / SSVEP, path)
    before, _ = pyxdf.load_xdf(str(path))
    assert b"<hostname>BCI-Tank</hostname>" in path.read_bytes()
    assert anonymise_xdf(path) == 2
    data = path.read_bytes()
    assert b"BCI-Tank" not in data and b"<hostname>anonymised</hostname>" in data
    after, _ = pyxdf.load_xdf(str(path))
    streams_equal(before, after)
    assert anonymise_xdf(path) == 0  # nothing left to change: the file is not rewritten
    assert not list(tmp_path.glob("*.anon"))


def test_a_cut_file_keeps_its_cut_tail(shared_eeg: Path, tmp_path: Path):
    data = (shared_eeg / SSVEP).read_bytes()
    path = tmp_path / "cut.xdf"
    path.write_bytes(data[: len(data) // 2])
    before = load_xdf_robust(path)
    tail = len(data) // 2 - scan_xdf(data[: len(data) // 2]).chunks[-1].end
    assert tail > 0
    assert anonymise_xdf(path) == 2
    after = load_xdf_robust(path)
    streams_equal(before.streams, after.streams)
    assert before.notes[0].split(" at byte")[0] == after.notes[0].split(" at byte")[0]


@pytest.mark.live
def test_a_recorded_session_names_no_machine(demo_session):
    data = (demo_session.folder / "session.xdf").read_bytes()
    host = socket.gethostname().encode()
    assert b"<hostname>anonymised</hostname>" in data
    assert b"<hostname>" + host + b"</hostname>" not in data
    assert b"<v4address>" not in data.replace(b"<v4address></v4address>", b"")

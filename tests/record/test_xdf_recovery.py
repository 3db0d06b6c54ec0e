"""Cut and damaged XDF files: every whole chunk is recovered, or a typed error.

The expected result of each cut comes from two things independent of
:mod:`neuroadapt.record.xdfio`: the chunk boundaries, walked here from the
length fields alone, and the samples of each Samples chunk as pyxdf decodes
the whole file (its ``on_chunk`` callback sees the chunks in file order).
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.errors import NeuroadaptError
from neuroadapt.record.xdf import load_session_xdf
from neuroadapt.record.xdfio import load_xdf_robust
from neuroadapt.sources.files import RecordingError, read_recording

MINIMAL = "xdf_example_files/minimal.xdf"
MISWITCH = "xdf_bci_essentials/sub-P001_ses-S001_task-MISwitch_run-002_eeg.xdf"
RAW = {"synchronize_clocks": False, "dejitter_timestamps": False}


@pytest.fixture(autouse=True)
def _quiet_pyxdf():
    # pyxdf logs a warning per stream on short files; the notes are what we check.
    logger = logging.getLogger("pyxdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


# ------------------------------------------------------------------ the oracle
def chunk_table(data: bytes) -> list[tuple[int, int, int, int | None]]:
    """``(start, end, tag, stream_id)`` of every chunk, from the length fields only."""
    out = []
    pos = 4
    while pos < len(data):
        nbytes = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 1 + nbytes], "little")
        body = pos + 1 + nbytes
        tag = struct.unpack_from("<H", data, body)[0]
        sid = struct.unpack_from("<I", data, body + 2)[0] if tag in (2, 3, 4, 6) else None
        out.append((pos, body + length, tag, sid))
        pos = body + length
    assert pos == len(data)
    return out


class Oracle:
    """What a reader must recover from each prefix of one whole file."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        import pyxdf

        self.data = path.read_bytes()
        self.chunks = chunk_table(self.data)
        per_chunk: list[tuple[int, int]] = []

        def on_chunk(values, stamps, stream, stream_id):
            per_chunk.append((stream_id, len(stamps)))
            return values, stamps, stream

        streams, _ = pyxdf.load_xdf(str(path), on_chunk=on_chunk, **kwargs)
        self.full = {s["info"]["stream_id"]: s for s in streams}
        samples = [c for c in self.chunks if c[2] == 3]
        assert [c[3] for c in samples] == [sid for sid, _ in per_chunk]
        self.sample_ends = [(c[1], sid, n) for c, (sid, n) in zip(samples, per_chunk, strict=True)]

    def expected(self, cut: int) -> dict[int, int] | None:
        """Samples per stream in the whole chunks of ``data[:cut]``; None if no header is whole."""
        headers = [c[3] for c in self.chunks if c[2] == 2 and c[1] <= cut]
        if not headers:
            return None
        counts = dict.fromkeys(headers, 0)
        for end, sid, n in self.sample_ends:
            if end <= cut:
                counts[sid] += n
        return counts

    def check(self, cut: int, streams: list[dict], *, stamps: bool) -> None:
        """The recovered streams are exactly the full file's, cut after the whole chunks."""
        expected = self.expected(cut)
        assert expected is not None
        got = {s["info"]["stream_id"]: s for s in streams}
        assert {k: len(s["time_stamps"]) for k, s in got.items()} == expected, cut
        for sid, n in expected.items():
            full, part = self.full[sid], got[sid]
            if isinstance(full["time_series"], list):
                assert part["time_series"] == full["time_series"][:n], cut
            else:
                # pyxdf gives a stream without samples a float64 array.
                assert n == 0 or part["time_series"].dtype == full["time_series"].dtype
                np.testing.assert_array_equal(part["time_series"], full["time_series"][:n])
            if stamps:
                np.testing.assert_array_equal(part["time_stamps"], full["time_stamps"][:n])


def boundary_cuts(oracle: Oracle) -> list[int]:
    return sorted({c[1] + d for c in oracle.chunks for d in (-1, 0, 1)} - {len(oracle.data) + 1})


# ------------------------------------------------------------------ cut files
def test_every_cut_of_minimal_xdf(shared_eeg: Path, tmp_path: Path) -> None:
    oracle = Oracle(shared_eeg / MINIMAL, **RAW)
    path = tmp_path / "session.xdf"
    recovered = refused = 0
    for cut in range(len(oracle.data) + 1):
        path.write_bytes(oracle.data[:cut])
        if oracle.expected(cut) is None:
            with pytest.raises(RecordingError) as info:
                load_xdf_robust(path, **RAW)
            assert "\n" not in str(info.value) and "session.xdf" in str(info.value)
            refused += 1
            continue
        streams, header, notes = load_xdf_robust(path, **RAW)
        oracle.check(cut, streams, stamps=True)
        assert header is not None
        whole = cut == len(oracle.data)
        assert (notes == []) == whole, (cut, notes)
        if not whole and cut not in {c[1] for c in oracle.chunks}:
            assert f"file cut at byte {cut} inside a" in notes[0]
        recovered += 1
    # Every cut before the end of the first stream header is refused, no other.
    assert refused == oracle.chunks[1][1] and recovered == len(oracle.data) + 1 - refused


def test_cut_inside_the_last_sample_never_returns_a_mixed_sample(
    shared_eeg: Path, tmp_path: Path
) -> None:
    # pyxdf alone returns [15, 25, 34] here: the cut sample's missing bytes are
    # taken from the sample before it. The whole chunk must be left out instead.
    oracle = Oracle(shared_eeg / MINIMAL, **RAW)
    start, end, _tag, sid = next(c for c in oracle.chunks if c[2] == 3 and c[0] > 1000)
    path = tmp_path / "cut.xdf"
    path.write_bytes(oracle.data[: end - 2])
    streams, _, notes = load_xdf_robust(path, **RAW)
    oracle.check(end - 2, streams, stamps=True)
    stream = next(s for s in streams if s["info"]["stream_id"] == sid)
    assert stream["time_series"].tolist() == [[192, 255, 238]]
    assert f"inside a Samples chunk of stream 'SendDataC' that starts at byte {start}" in notes[0]
    assert "'SendDataC' 1 sample up to t=5.100" in notes[1]


def test_a_whole_file_without_footers_loads_and_says_so(shared_eeg: Path, tmp_path: Path) -> None:
    oracle = Oracle(shared_eeg / MINIMAL)
    last_samples = max(c[1] for c in oracle.chunks if c[2] in (3, 4))
    path = tmp_path / "no_footer.xdf"
    path.write_bytes(oracle.data[:last_samples])
    streams, _, notes = load_xdf_robust(path)  # clock sync and dejitter as pyxdf does
    oracle.check(last_samples, streams, stamps=False)
    assert len(notes) == 1 and "no StreamFooter for 'SendDataC', 'SendDataString'" in notes[0]
    rec = read_recording(path, stream="SendDataC", eeg_only=False)
    assert rec.n_samples == 9 and any("no StreamFooter" in w for w in rec.warnings)


@pytest.mark.timeout(60)
def test_real_recording_cut_at_chunk_boundaries_and_inside_chunks(
    shared_eeg: Path, tmp_path: Path
) -> None:
    oracle = Oracle(shared_eeg / MISWITCH, **RAW)
    rng = np.random.default_rng(7)
    boundaries = boundary_cuts(oracle)
    cuts = sorted(set(rng.choice(boundaries, 30, replace=False)) | set(boundaries[:12]))
    cuts += sorted(rng.integers(5, len(oracle.data), 15).tolist())
    path = tmp_path / "MISwitch.xdf"
    for cut in cuts:
        path.write_bytes(oracle.data[:cut])
        if oracle.expected(cut) is None:
            with pytest.raises(RecordingError):
                load_xdf_robust(path, **RAW)
            continue
        streams, _, notes = load_xdf_robust(path, **RAW)
        oracle.check(cut, streams, stamps=True)
        assert notes
    # The reader of the engine's inputs keeps the EEG of a cut file, and says so.
    cut = len(oracle.data) // 2 + 5
    path.write_bytes(oracle.data[:cut])
    rec = read_recording(path)
    n_eeg = oracle.expected(cut)[1]
    assert rec.n_samples == n_eeg and rec.ch_names[0] == "F3"
    assert rec.warnings[0].startswith(f"file cut at byte {cut} inside a Samples chunk")
    np.testing.assert_array_equal(rec.data, read_recording(shared_eeg / MISWITCH).data[:n_eeg])


# ------------------------------------------------------------------ damaged files
def test_damaged_length_fields_stop_at_the_last_good_chunk(
    shared_eeg: Path, tmp_path: Path
) -> None:
    oracle = Oracle(shared_eeg / MINIMAL, **RAW)
    data = oracle.data
    path = tmp_path / "damaged.xdf"
    for start, end, _tag, _sid in oracle.chunks:
        nbytes = data[start]
        for label, damaged in (
            ("bad size byte", data[:start] + b"\x02" + data[start + 1 :]),
            ("length + 1", _with_length(data, start, nbytes, end - start - 1 - nbytes + 1)),
            ("length - 1", _with_length(data, start, nbytes, end - start - 1 - nbytes - 1)),
            ("length huge", _with_length(data, start, nbytes, 2 ** (8 * nbytes) - 1)),
            ("tag flipped", data[: start + 1 + nbytes] + b"\x09\x00" + data[start + 3 + nbytes :]),
        ):
            path.write_bytes(damaged)
            try:
                streams, _, notes = load_xdf_robust(path, **RAW)
            except RecordingError as exc:
                assert "\n" not in str(exc) and "damaged.xdf" in str(exc)
                assert oracle.expected(start) is None, (label, start)
                continue
            # Everything before the damaged chunk, nothing of it or after it.
            oracle.check(start, streams, stamps=True)
            assert notes and f"at byte {start}" in notes[0], (label, start, notes)


def _with_length(data: bytes, start: int, nbytes: int, length: int) -> bytes:
    fmt = {1: "<B", 4: "<I", 8: "<Q"}[nbytes]
    return data[: start + 1] + struct.pack(fmt, length) + data[start + 1 + nbytes :]


def test_every_flipped_byte_gives_data_or_a_typed_error(shared_eeg: Path, tmp_path: Path) -> None:
    data = (shared_eeg / MINIMAL).read_bytes()
    path = tmp_path / "flipped.xdf"
    outcomes = {"read": 0, "refused": 0}
    for pos in range(len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            load_xdf_robust(path, **RAW)
            outcomes["read"] += 1
        except NeuroadaptError:
            outcomes["refused"] += 1
    assert outcomes["read"] > 0 and outcomes["refused"] > 0


def test_not_an_xdf_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.xdf"
    path.write_text("this is not XDF\n")
    with pytest.raises(RecordingError, match=r"notes\.xdf: not an XDF file"):
        load_xdf_robust(path)
    empty = tmp_path / "empty.xdf"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match=r"empty\.xdf: the file is empty"):
        load_xdf_robust(empty)


# ------------------------------------------------------------------ a killed recorder
@pytest.mark.live
@pytest.mark.timeout(60)
def test_session_recorded_by_a_killed_labrecorder_loads(tmp_path: Path, uid: str) -> None:
    import pylsl

    from neuroadapt.lsl import make_stream_info
    from neuroadapt.record.recorder import SessionRecorder

    names = ["Fz", "Cz", "Pz", "counter"]
    info = make_stream_info(
        f"eeg-{uid}",
        "EEG",
        names,
        250.0,
        "float32",
        f"kill-{uid}",
        units=["microvolts"] * 3 + ["samples"],
        ch_types=["EEG"] * 3 + ["MISC"],
    )
    outlet = pylsl.StreamOutlet(info)
    stop = threading.Event()

    def push() -> None:
        t0, sent = pylsl.local_clock(), 0
        while not stop.is_set():
            due = int((pylsl.local_clock() - t0) * 250) + 1
            if due > sent:
                k = np.arange(sent, due, dtype=np.float32)
                chunk = np.column_stack([np.sin(k / 7) * 20, np.cos(k / 5) * 10, k % 97, k])
                outlet.push_chunk(chunk.astype(np.float32), (t0 + k / 250).tolist())
                sent = due
            stop.wait(0.02)

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    path = tmp_path / "session.xdf"
    recorder = SessionRecorder(path, [{"source_id": f"kill-{uid}"}])
    try:
        recorder.start(timeout=20)
        time.sleep(3.0)
        process = recorder._rec._process  # LabRecorderCLI itself, not our wrapper
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        for pipe in (process.stdin, process.stdout, process.stderr):
            pipe.close()
        recorder._rec = None
    finally:
        stop.set()
        pusher.join(5)
        recorder.stop()  # only if the kill did not happen

    session = load_session_xdf(path)
    assert session.eeg is not None and session.eeg.labels == names
    counter = session.eeg.column("counter")
    # The EEG up to the kill: a contiguous run from the first sample recorded.
    assert len(counter) >= 250, session.notes
    np.testing.assert_array_equal(np.diff(counter), 1.0)
    assert session.notes and (
        "file cut at byte" in session.notes[0] or "no StreamFooter" in session.notes[0]
    )
    rec = read_recording(path, eeg_only=False)
    np.testing.assert_array_equal(rec.data[:, 3], counter)

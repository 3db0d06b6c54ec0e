"""Windows computed together (replay's large pushes) equal windows computed one by one.

The feature extractor computes every window a push completes at once: features,
artifact measures shared by the detectors and the channel quality, quality
hysteresis. These tests pin that down on real recordings: the same samples pushed
in chunks of 1, 7, one window or all at once give identical frames and identical
protocol output, and the batched artifact flags and quality changes equal those of
the per-window API (:meth:`ArtifactDetector.check`, :meth:`ChannelQuality.update`).
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from neuroadapt.dsp.artifacts import ArtifactDetector
from neuroadapt.dsp.features import FeatureExtractor
from neuroadapt.dsp.quality import ChannelQuality
from neuroadapt.paths import find_protocol
from neuroadapt.pipeline import Pipeline
from neuroadapt.protocol import LoadedProtocol, load_protocol

EXTRA_FEATURES = """
[[features]]
name = "faa"
kind = "asymmetry"
band = [8.0, 13.0]
left = "{left}"
right = "{right}"

[[features]]
name = "ratio"
kind = "ratio"
numerator = "alpha_rel"
denominator = "faa"
"""


OPENBCI = Path("openbci_gui") / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
PHYSIONET = Path("physionet_eegmmidb") / "S001R03.edf"


def recording(shared_eeg: Path, which: str, seconds: float) -> tuple[np.ndarray, float, list]:
    from neuroadapt.sources.files import read_recording

    rec = read_recording(shared_eeg / (OPENBCI if which == "openbci" else PHYSIONET))
    n = int(seconds * rec.sfreq)
    start = int(20 * rec.sfreq) if which == "openbci" else 0  # blinks and clenches
    data = np.asarray(rec.data, dtype=np.float64)[start : start + n]
    return data, float(rec.sfreq), list(rec.ch_names)


def protocol(which: str, tmp_path: Path, window: float = 1.0) -> LoadedProtocol:
    """The shipped alpha_relax, shortened, on O1/O2, with asymmetry and ratio features."""
    text = find_protocol("alpha_relax").read_text(encoding="utf-8")
    left, right = ("C3", "C4") if which == "openbci" else ("F3", "F4")
    for old, new in (
        ('channels = ["O1", "Oz", "O2"]', 'channels = ["O1", "O2"]'),
        ("window = 1.0", f"window = {window}"),
        ("duration = 120.0", "duration = 8.0"),
        ("duration = 600.0", "duration = 60.0"),
        ("notch = 50", "notch = 50" if which == "openbci" else "notch = 60"),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / f"batched_{which}.toml"
    path.write_text(text + EXTRA_FEATURES.format(left=left, right=right), encoding="utf-8")
    return load_protocol(path)


def frame_record(frame) -> tuple:
    values = {k: ("nan" if math.isnan(v) else v) for k, v in frame.values.items()}
    flags = None if frame.artifacts is None else frame.artifacts.flags
    return frame.t, frame.index, values, flags, frame.quality


def push_in_chunks(target, data: np.ndarray, stamps: np.ndarray, size: int) -> list:
    out = []
    for i in range(0, len(data), size):
        out += target.push(data[i : i + size], stamps[i : i + size])
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", ["openbci", "physionet"])
def test_chunking_changes_nothing_on_real_eeg(shared_eeg: Path, tmp_path: Path, which: str) -> None:
    data, sfreq, names = recording(shared_eeg, which, 30.0)
    data[int(12 * sfreq) : int(12 * sfreq) + 5, 1] = np.nan  # a dropout
    data[int(3 * sfreq) : int(10 * sfreq), 2] = data[int(3 * sfreq), 2]  # a flat electrode
    stamps = 50.0 + np.arange(len(data)) / sfreq
    loaded = protocol(which, tmp_path)
    n_window = int(sfreq)
    results = {}
    for size in (1, 7, n_window, len(data)):
        pipe = Pipeline(loaded, sfreq, names, autostart=True)
        steps = push_in_chunks(pipe, data, stamps, size)
        # repr: NaN feature values never compare equal
        results[size] = [(frame_record(s.frame), repr(s.control), repr(s.markers)) for s in steps]
    whole = results[len(data)]
    assert len(whole) == (len(data) - n_window) // int(round(0.25 * sfreq)) + 1
    flagged = sum(bool(r[0][3]) for r in whole)
    assert flagged > 0, "the recording must exercise the detectors"
    assert any(r[0][4] for r in whole), "and the quality changes"
    for size, got in results.items():
        assert got == whole, f"chunks of {size} samples differ from one push"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", ["openbci", "physionet"])
def test_batched_flags_and_quality_equal_the_per_window_api(
    shared_eeg: Path, tmp_path: Path, which: str
) -> None:
    data, sfreq, names = recording(shared_eeg, which, 40.0)
    stamps = np.arange(len(data)) / sfreq
    ex = FeatureExtractor(protocol(which, tmp_path, window=2.0).protocol, sfreq, names)
    frames = ex.push(data, stamps)
    assert ex.detector is not None and ex.quality is not None
    judged = [names.index(c) for c in ex.detector.ch_names]
    detector = ArtifactDetector(sfreq, ex.detector.ch_names, line_freq=ex.detector.line_freq)
    quality = ChannelQuality(sfreq, names, line_freq=ex.detector.line_freq)
    n = ex.n_window
    for frame in frames:
        raw = data[frame.index - n : frame.index]
        assert frame.artifacts == detector.check(raw[:, judged])
        assert frame.quality == quality.update(raw, frame.t)
    assert sum(f.artifacts.contaminated for f in frames) > 0
    assert quality.levels == ex.quality.levels


def windows_of(data: np.ndarray, n: int, hop: int) -> np.ndarray:
    return np.ascontiguousarray(sliding_window_view(data, n, axis=0)[::hop].transpose(0, 2, 1))


@pytest.mark.parametrize(("n", "hop"), [(248, 62), (500, 62), (250, 75), (250, 250), (250, 500)])
def test_measure_sliding_equals_measure(shared_eeg: Path, n: int, hop: int) -> None:
    data, sfreq, names = recording(shared_eeg, "openbci", 60.0)
    # A flat channel, a clipped one and a dropout, on top of the real DC offsets.
    data[:, 2] = data[0, 2]
    data[:, 3] = np.clip(data[:, 3], None, np.percentile(data[:, 3], 90))
    data[3000:3003, 4] = np.nan
    detector = ArtifactDetector(sfreq, names, line_freq=50.0)
    sliding = detector.measure_sliding(data, n, hop)
    single = detector.measure(windows_of(data, n, hop))
    for f in fields(sliding):
        a, b = getattr(sliding, f.name), getattr(single, f.name)
        assert a.shape == b.shape
        if f.name in ("finite", "abs_max", "pinned"):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=f.name)
    tripped = detector.tripped(sliding)
    np.testing.assert_array_equal(tripped, detector.tripped(single))
    assert tripped[:, 1, 3].any() and tripped[:, 2, 2].all() and tripped[:, 0, 4].any()


@pytest.mark.parametrize(("n", "hop"), [(500, 125), (250, 75), (250, 500)])
def test_sliding_extremes_exact_on_ties(n: int, hop: int) -> None:
    """Quantised, clipped, constant and zero channels: many samples tie at the extremes."""
    rng = np.random.default_rng(5)
    data = np.round(rng.normal(0, 20, (n * 6, 6)))
    data[:, 1] = np.clip(data[:, 1], -15, 15)  # clipped both ways, most samples on a rail
    data[:, 2] = 7.0
    data[:, 3] = 0.0
    data[: n // 2, 4] = 0.0  # starts flat
    data[:, 5] = np.round(data[:, 5] / 10) * 10 + 1e5  # coarse steps on a DC offset
    detector = ArtifactDetector(250.0, [f"C{i}" for i in range(6)])
    sliding = detector.measure_sliding(data, n, hop)
    single = detector.measure(windows_of(data, n, hop))
    for name in ("abs_max", "pinned"):
        np.testing.assert_array_equal(getattr(sliding, name), getattr(single, name), name)
    assert (sliding.pinned[:, 1] > 0.1).all() and (sliding.pinned[:, 2:4] == 0).all()


def test_measure_sliding_rejects_bad_input() -> None:
    detector = ArtifactDetector(250.0, ["Fp1", "O1"])
    with pytest.raises(ValueError, match="shape"):
        detector.measure_sliding(np.zeros((500, 3)), 250, 62)
    with pytest.raises(ValueError, match="no whole window"):
        detector.measure_sliding(np.zeros((200, 2)), 250, 62)
    with pytest.raises(ValueError, match=r"at least 0\.5 s"):
        detector.measure_sliding(np.zeros((500, 2)), 100, 50)


def test_update_measured_equals_update() -> None:
    from neuroadapt.sources.synthetic import SyntheticHeadset

    names = ["Fp1", "Fp2", "C3", "Cz", "C4", "O1", "O2"]
    sf, n, hop = 250.0, 250, 62
    data = SyntheticHeadset(names, sf, seed=3, blinks=True).generate(int(40 * sf))
    data[2000:6000, 3] = data[2000, 3]  # flat for 16 s
    data[4000:7000, 4] += np.random.default_rng(0).normal(0, 200, 3000)  # noisy for 12 s
    times = (np.arange(len(windows_of(data, n, hop))) * hop + n - 1) / sf
    one, many = ChannelQuality(sf, names), ChannelQuality(sf, names)
    expected = [one.update(w, t) for w, t in zip(windows_of(data, n, hop), times, strict=True)]
    metrics = ArtifactDetector(sf, names).measure_sliding(data, n, hop)
    assert many.update_measured(metrics, times) == expected
    assert sum(map(len, expected)) >= 4
    assert many.levels == one.levels


#: The 64 electrodes of the BCI2000 cap (PhysioNet EEGMMIDB), 10-10 names.
CAP64 = (
    "FC5 FC3 FC1 FCz FC2 FC4 FC6 C5 C3 C1 Cz C2 C4 C6 CP5 CP3 CP1 CPz CP2 CP4 CP6 Fp1 Fpz "
    "Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT7 FT8 T7 T8 T9 T10 TP7 TP8 P7 P5 "
    "P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz"
).split()


class CountingPool:
    """Runs submitted work at once, counting it (stands in for the worker thread)."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn, *args):
        from concurrent.futures import Future

        self.submitted += 1
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def synthetic_64(seconds: float) -> tuple[np.ndarray, float, list[str]]:
    """64-channel synthetic EEG with blinks, a flat, a clipped and a noisy channel."""
    from neuroadapt.sources.synthetic import SyntheticHeadset

    sf = 250.0
    data = SyntheticHeadset(CAP64, sf, seed=4, blinks=True).generate(int(seconds * sf))
    data = np.round(data.astype(np.float32), 1).astype(np.float64)  # quantised: ties
    n = len(data)
    data[n // 10 : n // 2, 10] = data[n // 10, 10]
    data[:, 11] = np.clip(data[:, 11], -8.0, 8.0)
    data[n // 2 : 3 * n // 4, 12] += np.random.default_rng(0).normal(0, 400, 3 * n // 4 - n // 2)
    data[n // 3 : n // 3 + 4, 13] = np.nan
    return data, sf, list(CAP64)


@pytest.mark.timeout(300)
def test_measures_in_two_threads_equal_one_thread(tmp_path: Path, monkeypatch) -> None:
    import neuroadapt.dsp.features as features

    data, sfreq, names = synthetic_64(40.0)
    stamps = 10.0 + np.arange(len(data)) / sfreq
    loaded = protocol("physionet", tmp_path)
    runs = {}
    for label, cores in (("one thread", 1), ("two threads", 2)):
        monkeypatch.setattr(features, "_CORES", cores)
        monkeypatch.setattr(features, "_pool", None)
        pipe = Pipeline(loaded, sfreq, names, autostart=True)
        steps = pipe.push(data, stamps)
        runs[label] = [(frame_record(s.frame), repr(s.control), repr(s.markers)) for s in steps]
    assert features._pool is not None, "the large push must have used the worker thread"
    assert runs["two threads"] == runs["one thread"]
    assert sum(bool(r[0][3]) for r in runs["one thread"]) > 0
    assert any(r[0][4] for r in runs["one thread"])


def test_small_pushes_stay_in_one_thread(tmp_path: Path, monkeypatch) -> None:
    import neuroadapt.dsp.features as features

    data, sfreq, names = synthetic_64(12.0)
    stamps = np.arange(len(data)) / sfreq
    loaded = protocol("physionet", tmp_path)
    pool = CountingPool()
    monkeypatch.setattr(features, "_measure_pool", lambda: pool)
    live = FeatureExtractor(loaded.protocol, sfreq, names)
    hop = live.n_hop
    frames = push_in_chunks(live, data, stamps, hop)  # one window per push, as live
    assert pool.submitted == 0 and len(frames) > 30
    whole = FeatureExtractor(loaded.protocol, sfreq, names).push(data, stamps)
    assert pool.submitted == 1
    assert [frame_record(f) for f in whole] == [frame_record(f) for f in frames]

"""FeatureExtractor: the one path from raw samples to protocol features."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroadapt.dsp.features import FeatureExtractor
from neuroadapt.dsp.filters import design_preprocessing, filter_offline
from neuroadapt.errors import ProtocolError
from neuroadapt.protocol import parse_protocol

TEXT = """
[protocol]
name = "f"
[signal]
window = 1.0
hop = 0.25
[[features]]
name = "alpha_rel"
kind = "relative_band_power"
band = [8, 12]
total = [1, 40]
channels = ["O1", "O2"]
[[features]]
name = "theta_abs"
kind = "band_power"
band = [4, 8]
channels = ["Fz"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
"""
CH = ["Fz", "Cz", "O1", "O2"]
SF = 250.0


def signal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SF
    data = 10 * rng.standard_normal((n, len(CH)))
    data[:, 2:] += 20 * np.sin(2 * np.pi * 10 * t)[:, None]
    data += 5000.0  # electrode DC offset, as real amplifiers deliver
    return data, 1000.0 + t


def frames_of(ex: FeatureExtractor, data, ts, sizes):
    out, i = [], 0
    for size in sizes:
        out += ex.push(data[i : i + size], ts[i : i + size])
        i += size
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=30))
def test_chunking_does_not_change_features(sizes):
    p = parse_protocol(TEXT)
    data, ts = signal(3000)
    whole = FeatureExtractor(p, SF, CH).push(data, ts)
    sizes = [*sizes, len(data)]  # the last chunk takes whatever is left
    chunked = frames_of(FeatureExtractor(p, SF, CH), data, ts, sizes)
    assert [f.index for f in chunked] == [f.index for f in whole]
    assert [f.t for f in chunked] == [f.t for f in whole]
    for a, b in zip(chunked, whole, strict=True):
        for k in a.values:
            assert a.values[k] == pytest.approx(b.values[k], rel=1e-9)


def test_windows_hops_and_times():
    p = parse_protocol(TEXT)
    data, ts = signal(2000)
    frames = FeatureExtractor(p, SF, CH).push(data, ts)
    n_win, hop = 250, 62  # round(0.25 * 250) = 62
    assert len(frames) == (2000 - n_win) // hop + 1
    assert frames[0].index == n_win and frames[1].index == n_win + hop
    assert all(f.t == ts[f.index - 1] for f in frames)


def test_values_match_an_independent_computation_with_mne():
    from mne.time_frequency import psd_array_welch

    p = parse_protocol(TEXT)
    data, ts = signal(1500)
    frames = FeatureExtractor(p, SF, CH).push(data, ts)
    filt = filter_offline(design_preprocessing(SF, 1.0, 50.0), data[:, [0, 2, 3]])
    frame = frames[10]
    win = filt[frame.index - 250 : frame.index]
    psd, freqs = psd_array_welch(
        win.T,
        SF,
        fmin=0,
        fmax=SF / 2,
        n_fft=250,
        n_per_seg=250,
        n_overlap=0,
        window="hamming",
        verbose=False,
    )
    df = freqs[1] - freqs[0]

    def power(ch, lo, hi):
        return psd[ch, (freqs >= lo) & (freqs < hi)].sum() * df

    rel = np.mean([power(c, 8, 12) / power(c, 1, 40) for c in (1, 2)])
    assert frame.values["alpha_rel"] == pytest.approx(rel, rel=1e-6)
    assert frame.values["theta_abs"] == pytest.approx(power(0, 4, 8), rel=1e-6)
    assert frame.values["alpha_rel"] > 0.5  # the 10 Hz sine dominates O1/O2


def test_missing_channel_and_nyquist_are_clear_errors():
    p = parse_protocol(TEXT)
    with pytest.raises(ProtocolError, match=r"O1, O2 not in muse \(it has Fz, Cz\)"):
        FeatureExtractor(p, SF, ["Fz", "Cz"], "muse")
    with pytest.raises(ProtocolError, match="Nyquist"):
        FeatureExtractor(p, 64.0, CH)


def test_channel_names_match_case_insensitively():
    p = parse_protocol(TEXT)
    data, ts = signal(600)
    a = FeatureExtractor(p, SF, CH).push(data, ts)
    b = FeatureExtractor(p, SF, [c.lower() for c in CH]).push(data, ts)
    assert [f.values for f in a] == [f.values for f in b]


def test_dropouts_give_nan_windows_then_recover():
    p = parse_protocol(TEXT)
    data, ts = signal(3000)
    data[1000:1010, 2] = np.nan
    frames = FeatureExtractor(p, SF, CH).push(data, ts)
    bad = [f for f in frames if np.isnan(f.values["alpha_rel"])]
    good = [f for f in frames if not np.isnan(f.values["alpha_rel"])]
    assert bad, "windows over the dropout must not produce values"
    # affected: every window containing samples 1000..1009, plus 1 s of settling
    assert min(f.index for f in bad) > 1000 and max(f.index for f in bad) <= 1010 + 250 + 250 + 62
    assert any(f.index > 1600 for f in good)
    assert all(np.isfinite(f.values["alpha_rel"]) for f in good)


def test_eyes_closed_alpha_above_eyes_open_on_real_eeg(shared_eeg):
    """PhysioNet EEGMMIDB S001: runs 1 (eyes open) and 2 (eyes closed), same code as live."""
    from neuroadapt.sources import FileSource, read_recording

    text = TEXT.replace("[signal]", "[signal]\nnotch = 60")  # recorded in the US
    p = parse_protocol(text.replace('channels = ["O1", "O2"]', 'channels = ["O1", "Oz", "O2"]'))
    means = {}
    for run in ("S001R01", "S001R02"):
        rec = read_recording(shared_eeg / "physionet_eegmmidb" / f"{run}.edf")
        assert {"O1", "Oz", "O2", "Fz"} <= set(rec.ch_names)  # BCI2000 "O1.." normalised
        ex = FeatureExtractor(p, rec.sfreq, rec.ch_names, run, detect_artifacts=False)
        source = FileSource(rec, chunk=16)  # 16-sample chunks, as a live stream delivers
        frames = []
        while not source.exhausted:
            frames += ex.push(*source.pull())
        means[run] = np.mean([f.values["alpha_rel"] for f in frames])
    assert means["S001R02"] > 2 * means["S001R01"], means


def test_blinks_make_windows_invalid_and_name_the_reason():
    from neuroadapt.sources.synthetic import SyntheticHeadset

    names = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]
    p = parse_protocol(TEXT.replace('channels = ["Fz"]', 'channels = ["Cz"]'))
    sf = 250.0
    with_blinks = SyntheticHeadset(names, sf, seed=4, blinks=True).generate(int(60 * sf))
    without = SyntheticHeadset(names, sf, seed=4, blinks=False).generate(int(60 * sf))
    ts = np.arange(len(with_blinks)) / sf
    frames_b = FeatureExtractor(p, sf, names).push(with_blinks, ts)
    frames_c = FeatureExtractor(p, sf, names).push(without, ts)
    held = [f for f in frames_b if not f.valid]
    assert held, "blinks every few seconds must hold some windows"
    assert all("blink" in f.reason or "amplitude" in f.reason for f in held), {
        f.reason for f in held
    }
    assert len(held) < 0.6 * len(frames_b)
    assert sum(not f.valid for f in frames_c) <= 0.02 * len(frames_c)


def test_quality_ignores_misc_channels_and_flags_a_flat_one():
    from neuroadapt.sources.synthetic import SyntheticHeadset

    names = ["Fz", "Cz", "O1", "O2"]
    sf = 250.0
    p = parse_protocol(TEXT.replace('channels = ["Fz"]', 'channels = ["Cz"]'))
    data = SyntheticHeadset(names, sf, seed=1, blinks=False).generate(int(30 * sf))
    data[:, 1] = 0.0  # Cz disconnected: flat
    counter = np.arange(len(data), dtype=float)[:, None]
    ex = FeatureExtractor(p, sf, [*names, "counter"], ch_types=["eeg"] * 4 + ["misc"])
    frames = ex.push(np.hstack([data, counter]), np.arange(len(data)) / sf)
    assert set(ex.quality.levels) == set(names)
    assert ex.quality.levels["Cz"].level == "bad" and "flat" in ex.quality.levels["Cz"].reason
    changes = [c for f in frames for c in f.quality]
    assert any(c.channel == "Cz" and c.level == "bad" for c in changes)
    assert not any(c.channel == "O1" and c.level == "bad" for c in changes)

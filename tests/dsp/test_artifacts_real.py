"""Artifact detectors and channel quality on real recordings, against annotated segments.

The segments were read off the recordings (traces, 25-45 Hz power and peak-to-peak
over time) and are described in docs/artifacts.md; ``tools/bench/artifacts.py`` prints
the full table. Assertions leave margins around what was measured there (quoted in
each test).
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from neuroadapt.dsp.artifacts import DETECTORS, HOLDING, ArtifactDetector, is_frontal
from neuroadapt.dsp.quality import ChannelQuality

OPENBCI = Path("openbci_gui") / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
OPENBCI_MONTAGE = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
PHYSIONET = Path("physionet_eegmmidb")
USBAMP = Path("xdf_bci_essentials") / "sub-P001_ses-S001_task-MISwitch_run-002_eeg.xdf"
WINDOW_S, HOP_S = 1.0, 0.25  # the engine's defaults

# Hand-annotated segments, shared with tools/bench/artifacts.py.
SEGMENTS_FILE = Path(__file__).resolve().parents[2] / "tools" / "bench" / "artifact_segments.toml"
SEGMENTS = tomllib.loads(SEGMENTS_FILE.read_text(encoding="utf-8"))


def _segments(recording: str, key: str) -> tuple[tuple[float, float], ...]:
    return tuple((float(a), float(b)) for a, b in SEGMENTS[recording][key])


BLINKS = _segments("openbci", "blinks")
JAW_CLENCHES = _segments("openbci", "jaw_clenches")
OTHER = _segments("openbci", "other")
ALPHA = tuple(float(x) for x in SEGMENTS["openbci"]["alpha"])
R01_BLINKS = _segments("physionet_r01", "blinks")
R01_OTHER = _segments("physionet_r01", "other")


def read(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """Samples (n, n_ch) in µV, rate and channel names, with the project's reader."""
    from neuroadapt.sources.files import read_recording

    rec = read_recording(path)
    return np.asarray(rec.data, dtype=np.float64), float(rec.sfreq), list(rec.ch_names)


def windows(data: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """1 s windows every 0.25 s, (n_windows, n, n_ch), and their start times."""
    n, hop = int(round(WINDOW_S * sfreq)), int(round(HOP_S * sfreq))
    view = sliding_window_view(data, n, axis=0)[::hop].transpose(0, 2, 1)
    return view, np.arange(len(view)) * hop / sfreq


def overlapping(starts: np.ndarray, segments: tuple[tuple[float, float], ...]) -> np.ndarray:
    """(n_windows, n_segments): the window's span intersects the segment's."""
    seg = np.asarray(segments).reshape(-1, 2)
    return (starts[:, None] < seg[:, 1]) & (starts[:, None] + WINDOW_S > seg[:, 0])


def tripped(detector: ArtifactDetector, win: np.ndarray) -> np.ndarray:
    """(n_windows, n_detectors, n_channels) bool, in batches."""
    return np.concatenate(
        [
            detector.tripped(detector.measure(np.ascontiguousarray(win[i : i + 64])))
            for i in range(0, len(win), 64)
        ]
    )


def hit_rate(flagged: np.ndarray, ov: np.ndarray) -> float:
    return float(np.mean([(flagged & ov[:, j]).any() for j in range(ov.shape[1])]))


HOLD_ROWS = [DETECTORS.index(d) for d in DETECTORS if d in HOLDING]
ROW = {d: i for i, d in enumerate(DETECTORS)}


@functools.cache
def analyse_openbci(path: Path) -> dict:
    """Windows, flags and annotations of the OpenBCI sample, computed once per session."""
    data, sfreq, names = read(path)
    win, starts = windows(data, sfreq)
    # Recorded on 60 Hz mains (the file carries ~185 µV RMS of 60 Hz).
    flags = tripped(ArtifactDetector(sfreq, names, line_freq=60.0), win)
    ov_blink, ov_jaw = overlapping(starts, BLINKS), overlapping(starts, JAW_CLENCHES)
    clean = ~(ov_blink.any(1) | ov_jaw.any(1) | overlapping(starts, OTHER).any(1))
    alpha = clean & (starts >= ALPHA[0]) & (starts + WINDOW_S <= ALPHA[1])
    return {
        "data": data,
        "sfreq": sfreq,
        "names": names,
        "win": win,
        "starts": starts,
        "flags": flags,
        "ov_blink": ov_blink,
        "ov_jaw": ov_jaw,
        "clean": clean,
        "alpha": alpha,
    }


@pytest.fixture
def openbci(shared_eeg: Path) -> dict:
    result = analyse_openbci(shared_eeg / OPENBCI)
    assert tuple(result["names"]) == OPENBCI_MONTAGE and result["sfreq"] == 250.0
    return result


# ------------------------------------------------------------------ OpenBCI sample
def test_openbci_blinks_are_flagged(openbci: dict) -> None:
    blink = openbci["flags"][:, ROW["blink"]].any(-1)
    # Measured: 5 of 5 blink events, on Fp1/Fp2 only.
    assert hit_rate(blink, openbci["ov_blink"]) >= 0.8
    assert not openbci["flags"][:, ROW["blink"], 2:].any()  # never on C3..O2


def test_openbci_jaw_clenches_are_flagged_as_emg(openbci: dict) -> None:
    emg = openbci["flags"][:, ROW["emg"]].any(-1)
    # Measured: 12 of 12 clench events.
    assert hit_rate(emg, openbci["ov_jaw"]) >= 0.8
    held = openbci["flags"][:, HOLD_ROWS].any((-1, -2))
    assert hit_rate(held, openbci["ov_jaw"]) >= 0.9
    assert hit_rate(held, openbci["ov_blink"]) >= 0.9


def test_openbci_clean_stretches_and_alpha_block_are_not_flagged(openbci: dict) -> None:
    flags, clean, alpha = openbci["flags"], openbci["clean"], openbci["alpha"]
    assert clean.sum() > 200 and alpha.sum() > 180
    # Measured: no holding detector trips in any of the 223 clean windows.
    for name in HOLDING:
        assert flags[clean, ROW[name]].any(-1).mean() <= 0.02, name
    assert flags[clean][:, HOLD_ROWS].any((-1, -2)).mean() <= 0.03
    # Alpha is not an artifact: nothing holds feedback inside the alpha block.
    assert not flags[alpha, ROW["emg"]].any()
    assert flags[alpha][:, HOLD_ROWS].any((-1, -2)).mean() <= 0.01


def test_openbci_mains_is_seen_only_at_the_mains_frequency(openbci: dict) -> None:
    # The file really carries 60 Hz on every channel (about 50 times the EEG power).
    assert openbci["flags"][:, ROW["line_noise"]].all(-1).mean() >= 0.95
    at_50 = tripped(
        ArtifactDetector(openbci["sfreq"], openbci["names"], line_freq=50.0), openbci["win"]
    )
    assert at_50[:, ROW["line_noise"]].any(-1).mean() <= 0.02


def test_openbci_quality_is_calm(openbci: dict) -> None:
    quality = ChannelQuality(openbci["sfreq"], openbci["names"], line_freq=60.0)
    changes = []
    for window, start in zip(openbci["win"], openbci["starts"], strict=True):
        changes += quality.update(window, start + WINDOW_S)
    # Measured: every channel fair (line noise) once 2 s of evidence exist, and nothing
    # else: the blink trains, the one-second clenches and the bites do not move the light.
    assert {(c.channel, c.level, c.reason) for c in changes if c.t < 5.0} == {
        (ch, "fair", "line noise") for ch in OPENBCI_MONTAGE
    }
    assert not [c for c in changes if 5.0 <= c.t < 86.0]
    assert len(changes) <= 12


# ------------------------------------------------------------------ PhysioNet
@pytest.mark.parametrize("run", ["S001R01.edf", "S001R02.edf"])
def test_physionet_non_frontal_false_alarms(shared_eeg: Path, run: str) -> None:
    data, sfreq, names = read(shared_eeg / PHYSIONET / run)
    assert data.shape[1] == 64 and sfreq == 160.0
    win, _ = windows(data, sfreq)
    flags = tripped(ArtifactDetector(sfreq, names, line_freq=60.0), win)
    back = ~np.array([is_frontal(c) for c in names])
    assert back.sum() == 47
    # Measured: 0.8 % (R01, one movement) and 0 % (R02) of windows with any holding
    # flag on a non-frontal channel.
    for name in HOLDING:
        assert flags[:, ROW[name]][:, back].any(-1).mean() <= 0.02, name
    assert flags[:, HOLD_ROWS][:, :, back].any((-1, -2)).mean() <= 0.02
    # No EMG or line noise anywhere on this wet-electrode cap.
    assert not flags[:, ROW["emg"]].any()
    assert not flags[:, ROW["line_noise"]].any()


def test_physionet_eyes_open_blinks(shared_eeg: Path) -> None:
    data, sfreq, names = read(shared_eeg / PHYSIONET / "S001R01.edf")
    win, starts = windows(data, sfreq)
    flags = tripped(ArtifactDetector(sfreq, names, line_freq=60.0), win)
    blink = flags[:, ROW["blink"]].any(-1)
    ov = overlapping(starts, R01_BLINKS)
    clean = ~ov.any(1) & ~overlapping(starts, R01_OTHER).any(1)
    # Measured: 10 of 11 blinks (the one missed, at 44.0 s, is the smallest and only
    # twice the background at the back of the head), no blink flag away from them.
    assert hit_rate(blink, ov) >= 0.8
    assert blink[clean].mean() <= 0.02
    held = flags[:, HOLD_ROWS].any((-1, -2))
    assert hit_rate(held, ov) >= 0.8


def test_physionet_eyes_closed_frontal_is_quiet(shared_eeg: Path) -> None:
    data, sfreq, names = read(shared_eeg / PHYSIONET / "S001R02.edf")
    win, _ = windows(data, sfreq)
    flags = tripped(ArtifactDetector(sfreq, names, line_freq=60.0), win)
    front = np.array([is_frontal(c) for c in names])
    # Measured: 1.3 % of windows with a blink flag (eye movements) on the 17 frontal
    # channels, nothing else; the strong occipital alpha trips nothing.
    assert flags[:, HOLD_ROWS][:, :, front].any((-1, -2)).mean() <= 0.05
    quality = ChannelQuality(sfreq, names, line_freq=60.0)
    starts = np.arange(len(win)) * HOP_S
    assert [
        c for w, s in zip(win, starts, strict=True) for c in quality.update(w, s + WINDOW_S)
    ] == []


# ------------------------------------------------------------------ g.USBamp, line noise
def test_usbamp_line_noise_on_the_channels_known_to_carry_it(shared_eeg: Path) -> None:
    data, sfreq, names = read(shared_eeg / USBAMP)
    win, _ = windows(data, sfreq)
    flags = tripped(ArtifactDetector(sfreq, names, line_freq=60.0), win)
    rate = dict(zip(names, flags[:, ROW["line_noise"]].mean(0), strict=True))
    # SOURCES.md: FC3, C3 and F4 carry strong 60 Hz. Measured 1.00, 1.00, 0.93.
    assert rate["FC3"] >= 0.9 and rate["C3"] >= 0.9 and rate["F4"] >= 0.8
    for ch in ("Fz", "FCz", "C1", "Cz", "C2", "C4", "C6", "CP4", "Pz"):
        assert rate[ch] <= 0.02, ch

"""Per-channel quality traffic light: classification per window and hysteresis over time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import signal

from neuroadapt.dsp.quality import (
    LEVELS,
    REASONS,
    ChannelQuality,
    QualityChange,
    QualityLevel,
)
from neuroadapt.sources import SyntheticHeadset

SFREQ = 250.0
NAMES = ("Fp1", "Fp2", "C3", "C4", "P3", "P4", "O1", "O2")
HOP = 0.25
N = int(SFREQ)  # 1 s windows


class Stream:
    """Clean synthetic windows, 1 s every 0.25 s, that a test can spoil one by one."""

    def __init__(self, seed: int = 0) -> None:
        self.headset = SyntheticHeadset(NAMES, SFREQ, seed=seed, blinks=False)
        self.buffer = self.headset.generate(N)
        self.t = 1.0

    def next(self) -> tuple[np.ndarray, float]:
        new = self.headset.generate(int(HOP * SFREQ))
        self.buffer = np.concatenate([self.buffer[len(new) :], new])
        self.t += HOP
        return self.buffer.copy(), self.t


def railed(x: np.ndarray, ch: str = "C3") -> np.ndarray:
    x[:, NAMES.index(ch)] = 187_500.0
    return x


def flat(x: np.ndarray, ch: str = "O1") -> np.ndarray:
    x[:, NAMES.index(ch)] = 3.0
    return x


def emg(x: np.ndarray, ch: str = "P4") -> np.ndarray:
    rng = np.random.default_rng(int(abs(x[0, 0]) * 1e3) % 2**32)
    sos = signal.butter(4, [30.0, 100.0], "bandpass", fs=SFREQ, output="sos")
    burst = signal.sosfilt(sos, rng.standard_normal(len(x) + 200))[200:]
    x[:, NAMES.index(ch)] += 100.0 * burst / burst.std()
    return x


def mains(x: np.ndarray, ch: str = "C4") -> np.ndarray:
    x[:, NAMES.index(ch)] += 60.0 * np.sin(2 * np.pi * 50.0 * np.arange(len(x)) / SFREQ)
    return x


def blink(x: np.ndarray) -> np.ndarray:
    t = np.arange(len(x)) / SFREQ - 0.3
    inside = (t >= 0) & (t <= 0.3)
    wave = np.zeros(len(x))
    wave[inside] = 200.0 * 0.5 * (1 - np.cos(2 * np.pi * t[inside] / 0.3))
    x[:, :2] += wave[:, None]
    return x


def run(
    quality: ChannelQuality,
    stream: Stream,
    seconds: float,
    spoil: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> list[QualityChange]:
    """Feed ``seconds`` of windows; ``spoil(window, i)`` may alter the i-th window."""
    changes: list[QualityChange] = []
    for i in range(int(round(seconds / HOP))):
        x, t = stream.next()
        if spoil is not None:
            x = spoil(x, i)
        changes += quality.update(x, t)
    return changes


@pytest.fixture
def quality() -> ChannelQuality:
    return ChannelQuality(SFREQ, NAMES)


def test_clean_eeg_stays_good(quality: ChannelQuality) -> None:
    assert run(quality, Stream(1), 30.0) == []
    assert quality.levels == dict.fromkeys(NAMES, QualityLevel("good", "ok"))


def test_a_single_bad_window_changes_nothing(quality: ChannelQuality) -> None:
    stream = Stream(2)
    run(quality, stream, 6.0)
    for spoil in (railed, flat, emg, mains):
        assert run(quality, stream, 6.0, lambda x, i, s=spoil: s(x) if i == 0 else x) == []
    assert quality.levels["C3"] == QualityLevel("good", "ok")


@pytest.mark.parametrize(
    ("spoil", "channel", "level", "reason"),
    [
        (railed, "C3", "bad", "railed"),
        (flat, "O1", "bad", "flat"),
        (emg, "P4", "fair", "noisy"),
        (mains, "C4", "fair", "line noise"),
    ],
)
def test_persistent_problem_changes_the_level_within_two_seconds_then_recovers(
    quality: ChannelQuality,
    spoil: Callable[[np.ndarray], np.ndarray],
    channel: str,
    level: str,
    reason: str,
) -> None:
    stream = Stream(3)
    run(quality, stream, 5.0)
    start = stream.t + HOP  # time of the first spoiled window
    changes = run(quality, stream, 1.5, lambda x, i: spoil(x))
    assert changes == []  # 1.5 s of evidence is not enough
    changes = run(quality, stream, 8.0, lambda x, i: spoil(x))
    assert changes == [QualityChange(changes[0].t, channel, level, reason, "good")]
    assert start + 1.5 <= changes[0].t <= start + 2.0
    assert quality.levels[channel] == QualityLevel(level, reason)

    clean_from = stream.t + HOP
    changes = run(quality, stream, 4.75)
    assert changes == []  # recovery needs 5 s of clean windows
    changes = run(quality, stream, 3.0)
    assert changes == [QualityChange(clean_from + 4.75 + HOP, channel, "good", "ok", level)]
    assert quality.levels[channel] == QualityLevel("good", "ok")


def test_worse_problem_takes_over_and_recovery_goes_one_level_at_a_time(
    quality: ChannelQuality,
) -> None:
    stream = Stream(4)
    run(quality, stream, 3.0)
    changes = run(quality, stream, 4.0, lambda x, i: mains(x, "C3"))
    assert [(c.level, c.reason) for c in changes] == [("fair", "line noise")]
    changes = run(quality, stream, 4.0, lambda x, i: railed(x, "C3"))
    assert [(c.level, c.reason, c.previous) for c in changes] == [("bad", "railed", "fair")]
    # Still mains but no longer railed: back to fair after 5 s, not to good.
    changes = run(quality, stream, 8.0, lambda x, i: mains(x, "C3"))
    assert [(c.level, c.reason, c.previous) for c in changes] == [("fair", "line noise", "bad")]


def test_intermittent_problem_shows_fair_but_never_bad(quality: ChannelQuality) -> None:
    # A loose electrode railing every other window: not good, but not steadily bad.
    stream = Stream(5)
    run(quality, stream, 3.0)
    changes = run(quality, stream, 20.0, lambda x, i: railed(x) if i % 2 else x)
    assert [(c.channel, c.level, c.reason) for c in changes] == [("C3", "fair", "railed")]


def test_brief_recurrent_artifacts_do_not_change_the_level(quality: ChannelQuality) -> None:
    # A one-second clench every four seconds: transient, not the electrode.
    stream = Stream(6)
    assert run(quality, stream, 30.0, lambda x, i: emg(x) if i % 16 < 3 else x) == []


def test_blinks_are_not_the_electrodes_fault(quality: ChannelQuality) -> None:
    stream = Stream(7)
    assert run(quality, stream, 20.0, lambda x, i: blink(x)) == []


def test_dropouts_are_no_evidence(quality: ChannelQuality) -> None:
    stream = Stream(8)
    run(quality, stream, 3.0)

    def dropout_or_railed(x: np.ndarray, i: int) -> np.ndarray:
        if i % 4 == 0:
            x[10:20, NAMES.index("C3")] = np.nan
            return x
        return railed(x)

    # Three railed windows in four, the fourth a dropout: 100 % of the evidence is bad.
    changes = run(quality, stream, 4.0, dropout_or_railed)
    assert [(c.channel, c.level) for c in changes] == [("C3", "bad")]

    def dropout(x: np.ndarray, i: int) -> np.ndarray:
        x[:5, NAMES.index("C3")] = np.nan
        return x

    # Only dropouts for a while: nothing to go on, the level stays.
    assert run(quality, stream, 10.0, dropout) == []
    assert quality.levels["C3"].level == "bad"


def test_gap_restarts_the_evidence(quality: ChannelQuality) -> None:
    stream = Stream(9)
    run(quality, stream, 3.0, lambda x, i: railed(x))
    assert quality.levels["C3"].level == "bad"
    stream.t += 60.0  # the stream stalled for a minute
    x, t = stream.next()
    assert quality.update(x, t) == []  # no instant recovery on one clean window
    assert run(quality, stream, 4.5) == []
    assert [c.level for c in run(quality, stream, 1.0)] == ["good"]


def test_reset(quality: ChannelQuality) -> None:
    run(quality, Stream(10), 3.0, lambda x, i: flat(x))
    assert quality.levels["O1"].level == "bad"
    quality.reset()
    assert quality.levels["O1"] == QualityLevel("good", "ok")


def test_classify_one_window(quality: ChannelQuality) -> None:
    stream = Stream(11)
    x, _ = stream.next()
    x = mains(emg(flat(railed(x, "Fp1"), "Fp2"), "C3"), "C4")
    x[:, NAMES.index("P3")] += 600.0 * np.sin(2 * np.pi * 3.0 * np.arange(N) / SFREQ)
    # Strong alpha is no fault of the electrode, however large.
    x[:, NAMES.index("O1")] += 150.0 * np.sin(2 * np.pi * 10.0 * np.arange(N) / SFREQ)
    x[3, NAMES.index("O2")] = np.nan
    level, reason = quality.classify(x)
    got = {
        c: (LEVELS[lv] if lv >= 0 else None, REASONS[r])
        for c, lv, r in zip(NAMES, level, reason, strict=True)
    }
    assert got == {
        "Fp1": ("bad", "railed"),
        "Fp2": ("bad", "flat"),
        "C3": ("fair", "noisy"),
        "C4": ("fair", "line noise"),
        "P3": ("bad", "noisy"),  # 1200 µV peak-to-peak at 3 Hz
        "P4": ("good", "ok"),
        "O1": ("good", "ok"),
        "O2": (None, "ok"),
    }


def test_bad_arguments(quality: ChannelQuality) -> None:
    x, t = Stream(12).next()
    quality.update(x, t)
    with pytest.raises(ValueError, match="must not decrease"):
        quality.update(x, t - 1.0)
    with pytest.raises(ValueError, match="finite"):
        quality.update(x, float("nan"))
    with pytest.raises(ValueError, match="one window"):
        quality.update(np.stack([x, x]), t + 1.0)
    with pytest.raises(ValueError, match="n_channels=8"):
        quality.update(x[:, :3], t + 1.0)
    for kwargs in (
        {"degrade_s": 0.0},
        {"recover_s": -1.0},
        {"evidence": 1.5},
        {"intermittent": 0.0},
        {"bad_factor": 0.5},
    ):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            ChannelQuality(SFREQ, NAMES, **kwargs)


def test_repr_and_levels_are_copies(quality: ChannelQuality) -> None:
    levels = quality.levels
    levels["C3"] = QualityLevel("bad", "flat")
    assert quality.levels["C3"] == QualityLevel("good", "ok")
    assert "8 channels" in repr(quality)

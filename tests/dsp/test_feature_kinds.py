"""Feature kinds of protocol format 2 on synthetic EEG: ratio, asymmetry, regions,
IAF-relative bands, the envelope method and re-referencing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroadapt.dsp.features import FeatureExtractor
from neuroadapt.protocol import parse_protocol

SFREQ = 250.0
CHANNELS = ["F3", "F4", "Cz", "Pz", "O1", "O2"]


def sine(freq: float, amp: float, n: int, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / SFREQ
    return amp * np.sin(2 * np.pi * freq * t + phase)


def run(features: str, data: np.ndarray, signal: str = "") -> list:
    text = f"""
format = 2
[protocol]
name = "t"
[signal]
window = 2.0
hop = 0.5
notch = 0
{signal}
{features}
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
"""
    ext = FeatureExtractor(parse_protocol(text), SFREQ, CHANNELS, detect_artifacts=False)
    stamps = np.arange(len(data)) / SFREQ
    return ext.push(data, stamps), ext


def signals(n: int, **by_channel: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = 0.1 * rng.standard_normal((n, len(CHANNELS)))
    for ch, x in by_channel.items():
        data[:, CHANNELS.index(ch)] += x
    return data


def test_asymmetry_is_ln_right_minus_ln_left():
    n = int(10 * SFREQ)
    data = signals(n, F3=sine(10, 10, n), F4=sine(10, 20, n))
    frames, _ = run(
        '[[features]]\nname = "faa"\nkind = "asymmetry"\nband = [8, 12]\nleft = "F3"\nright = "F4"',
        data,
    )
    assert frames[-1].values["faa"] == pytest.approx(math.log(4), abs=0.05)


def test_ratio_of_two_features_and_region_average():
    n = int(10 * SFREQ)
    data = signals(n, Pz=sine(6, 20, n) + sine(18, 10, n), O1=sine(10, 10, n), O2=sine(10, 30, n))
    feats = """
[[features]]
name = "theta"
kind = "band_power"
band = [4, 8]
channels = ["Pz"]
[[features]]
name = "beta"
kind = "band_power"
band = [16, 20]
channels = ["Pz"]
[[features]]
name = "tbr"
kind = "ratio"
numerator = "theta"
denominator = "beta"
[[features]]
name = "occ"
kind = "band_power"
band = [8, 12]
region = "occipital"
"""
    frames, _ = run(feats, data)
    v = frames[-1].values
    assert v["tbr"] == pytest.approx(4.0, rel=0.05)
    assert v["occ"] == pytest.approx((10**2 / 2 + 30**2 / 2) / 2, rel=0.05)


def test_envelope_method_agrees_with_welch_on_a_steady_rhythm():
    n = int(10 * SFREQ)
    data = signals(n, O1=sine(10, 10, n))
    feats = """
[[features]]
name = "w"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
[[features]]
name = "e"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
method = "envelope"
"""
    frames, _ = run(feats, data)
    assert frames[-1].values["e"] == pytest.approx(frames[-1].values["w"], rel=0.1)
    assert frames[-1].values["e"] == pytest.approx(50.0, rel=0.1)


def test_envelope_follows_a_step_sooner_than_welch():
    n = int(12 * SFREQ)
    amp = np.where(np.arange(n) < 8 * SFREQ, 2.0, 20.0)
    data = signals(n, O1=amp * sine(10, 1, n))
    feats = """
[[features]]
name = "w"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
[[features]]
name = "e"
kind = "band_power"
band = [8, 12]
channels = ["O1"]
method = "envelope"
"""
    frames, _ = run(feats, data)
    after = [f for f in frames if f.t >= 8.5]
    first = after[0].values  # half a second after the step
    assert first["e"] > 0.8 * 200 and first["w"] < 0.5 * 200


def test_iaf_relative_band_moves_when_the_iaf_is_set():
    n = int(10 * SFREQ)
    data = signals(n, O1=sine(12.5, 10, n))
    feats = '[[features]]\nname = "a"\nkind = "band_power"\niaf_band = [-1, 1]\nchannels = ["O1"]'
    frames, ext = run(feats, data)
    before = frames[-1].values["a"]
    assert frames[-1].spectrum is not None
    freqs, psd = frames[-1].spectrum
    assert freqs[np.argmax(psd)] == pytest.approx(12.5, abs=0.5)
    ext.set_iaf(12.5)
    later = ext.push(data[: int(4 * SFREQ)], (n + np.arange(int(4 * SFREQ))) / SFREQ)
    assert later[-1].values["a"] > 10 * before


def test_reference_to_a_channel_removes_what_it_shares():
    n = int(10 * SFREQ)
    common = sine(10, 10, n)
    data = signals(n, Cz=common, O1=common)
    feats = '[[features]]\nname = "a"\nkind = "band_power"\nband = [8, 12]\nchannels = ["O1"]'
    plain, _ = run(feats, data)
    reref, _ = run(feats, data, signal='reference = ["Cz"]')
    assert plain[-1].values["a"] == pytest.approx(50, rel=0.1)
    assert reref[-1].values["a"] < 0.01
    avg, _ = run(feats, data, signal='reference = "average"')
    assert avg[-1].values["a"] == pytest.approx(50 * (4 / 6) ** 2, rel=0.1)

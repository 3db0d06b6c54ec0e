"""The pipeline gives the same answer however the samples are chunked (real EEG)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.paths import find_protocol
from neuroadapt.pipeline import Pipeline
from neuroadapt.protocol import load_protocol
from neuroadapt.sources.files import read_recording


def scaled_alpha_theta(tmp_path: Path) -> Path:
    """alpha_theta with its phases six times shorter: the IAF is measured after 10 s."""
    text = find_protocol("alpha_theta").read_text(encoding="utf-8")
    text = re.sub(
        r"(?m)^duration = ([0-9.]+)", lambda m: f"duration = {float(m.group(1)) / 6:g}", text
    )
    path = tmp_path / "alpha_theta_short.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(pipeline: Pipeline, data: np.ndarray, times: np.ndarray, chunk: int) -> list:
    out = []
    for i in range(0, len(data), chunk):
        out += pipeline.push(data[i : i + chunk], times[i : i + chunk])
    return out


@pytest.mark.parametrize("chunk_s", [10.0, 100.0, 1000.0])
def test_iaf_protocol_is_chunk_invariant(shared_eeg: Path, tmp_path: Path, chunk_s: float):
    rec = read_recording(shared_eeg / "physionet_eegmmidb/S001R03.edf")
    loaded = load_protocol(scaled_alpha_theta(tmp_path))

    def steps(chunk: int) -> list:
        p = Pipeline(loaded, rec.sfreq, rec.ch_names, ch_types=rec.ch_types, autostart=True)
        result = run(p, rec.data, rec.times, chunk)
        assert not p.protocol.iaf_pending  # the IAF was measured
        return result

    live = steps(16)  # the live engine's small pulls
    big = steps(int(chunk_s * rec.sfreq))
    assert len(live) == len(big) > 400
    calibrated = [s for s in live if any(m.event == "calibration" for m in s.markers)]
    assert calibrated  # the IAF (and later the normalisation) were calibrated
    for a, b in zip(live, big, strict=True):
        assert a.frame.t == b.frame.t
        assert a.frame.values == b.frame.values or all(
            np.isnan(a.frame.values[k]) and np.isnan(b.frame.values[k]) for k in a.frame.values
        )
        assert (a.control is None) == (b.control is None)
        if a.control is not None:
            assert a.control.params == b.control.params and a.control.reward == b.control.reward
        assert [m.to_json() for m in a.markers] == [m.to_json() for m in b.markers]

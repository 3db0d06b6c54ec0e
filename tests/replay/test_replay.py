"""Offline replay of a real recording: determinism, summary, CLI errors, comparison."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.cli import main
from neuroadapt.paths import find_protocol
from neuroadapt.protocol import load_protocol
from neuroadapt.record.tables import FILES, SessionTables
from neuroadapt.replay.run import align_skip, grid_ends, nearest_window
from tests.conftest import SHARED_EEG

EDF = "physionet_eegmmidb/S001R02.edf"  # 64 ch @ 160 Hz, 1 min, eyes closed


@pytest.fixture(scope="module")
def protocols(tmp_path_factory) -> tuple[Path, Path]:
    """alpha_relax scaled to 50 s (8.3 s baseline, 41.7 s training), and a variant of it
    whose adaptive threshold aims at a lower reward rate."""
    folder = tmp_path_factory.mktemp("protocols")
    loaded = load_protocol(find_protocol("alpha_relax"))
    text = loaded.protocol.scaled(50 / loaded.protocol.duration).to_toml()
    a = folder / "alpha_short.toml"
    a.write_text(text, encoding="utf-8")
    assert "target_rate = 0.6" in text
    b = folder / "alpha_short_hard.toml"
    b.write_text(text.replace("target_rate = 0.6", "target_rate = 0.2"), encoding="utf-8")
    return a, b


@pytest.fixture(scope="module")
def two_replays(protocols, tmp_path_factory) -> tuple[Path, Path, Path]:
    edf = SHARED_EEG / EDF
    if not edf.is_file():
        pytest.skip(f"real EEG recording not found at {edf}")
    out = tmp_path_factory.mktemp("replays")
    a, b = protocols
    for name, proto in (("one", a), ("two", a), ("hard", b)):
        assert (
            main(
                ["replay", str(edf), "--protocol", str(proto), "--out", str(out / name), "--quiet"]
            )
            == 0
        )
    return out / "one", out / "two", out / "hard"


def test_two_replays_write_byte_identical_tables(two_replays):
    one, two, _ = two_replays
    for name in FILES.values():
        assert filecmp.cmp(one / name, two / name, shallow=False), name
    a = json.loads((one / "summary.json").read_text())
    b = json.loads((two / "summary.json").read_text())
    a.pop("run"), b.pop("run")
    assert a == b


def test_tables_and_summary_are_sane(two_replays):
    one, _, _ = two_replays
    tables = SessionTables.read(one)
    t = np.asarray(tables.features.floats("time"))
    assert t[0] == pytest.approx(1.0 - 1 / 160) and np.allclose(np.diff(t), 0.25)
    alpha = np.asarray(tables.features.floats("alpha_rel"))
    assert np.all((alpha > 0) & (alpha < 1))
    s = json.loads((one / "summary.json").read_text())
    assert s["input"]["file"] == "S001R02.edf" and "/" not in json.dumps(s["input"])
    assert s["input"]["sfreq"] == 160.0 and len(s["input"]["channels"]) == 64
    assert s["protocol"]["name"] == "alpha_relax" and len(s["protocol"]["sha256"]) == 64
    assert s["ended"] == "completed" and s["run"]["x_real_time"] > 1
    base, train = s["phases"]
    assert (base["name"], base["kind"], train["kind"]) == ("baseline", "baseline", "training")
    # 50 s in the original's proportions (120 s : 600 s) at a 0.25 s hop.
    assert abs(base["n_windows"] - 50 / 6 / 0.25) <= 1
    assert abs(base["n_windows"] + train["n_windows"] - 50 / 0.25) <= 1
    assert base["start"] == pytest.approx(t[0]) and train["end"] == pytest.approx(t[0] + 50)
    assert base["reward_rate"] is None and 0 < train["reward_rate"] <= 1
    for ph in (base, train):
        assert 0 <= ph["artifact_fraction"] < 0.5
        assert 0.05 < ph["feature_means"]["alpha_rel"] < 0.95
    # The summary's numbers are the tables' numbers.
    ctl = tables.control
    train_rows = [i for i, p in enumerate(ctl.column("phase")) if p == "training"]
    assert len(train_rows) == train["n_windows"]
    events = [e["event"] for _, e in tables.marker_events()]
    for e in ("session_start", "phase_start", "calibration", "phase_end", "session_end"):
        assert e in events


def test_compare_two_protocols(two_replays, tmp_path, capsys):
    one, _, hard = two_replays
    out = tmp_path / "cmp"
    assert main(["replay", "--compare", str(one), str(hard), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "reward rate" in text and "reward agreement" in text
    result = json.loads((out / "compare.json").read_text())
    assert (out / "compare.png").stat().st_size > 10_000
    train = next(p for p in result["phases"] if p["name"] == "training")
    # Same data, same features: identical means; a harder target rewards less.
    a_mean, b_mean, d_mean = train["feature_means"]["alpha_rel"]
    assert d_mean == 0 and a_mean == b_mean
    assert train["reward_rate"][1] < train["reward_rate"][0]
    assert result["features"]["alpha_rel"]["max_rel_diff"] == 0
    assert 0 < result["reward_agreement"] < 1
    assert result["windows"] == len(SessionTables.read(one).control)
    # Same with itself: full agreement.
    assert main(["replay", "--compare", str(one), str(one), "--out", str(tmp_path / "s")]) == 0
    same = json.loads((tmp_path / "s" / "compare.json").read_text())
    assert same["reward_agreement"] == 1.0
    assert all(
        v["correlation"] == pytest.approx(1.0) or v["correlation"] is None
        for v in same["parameters"].values()
    )


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("neuroadapt: error: ")
    return err[0]


def test_cli_errors_are_one_line(shared_eeg, protocols, tmp_path, capsys):
    a, _ = protocols
    assert main(["replay", str(tmp_path / "missing.edf"), "--protocol", str(a)]) == 1
    assert "missing.edf" in _error(capsys)
    # The UCI eye-state recording (Emotiv EPOC) has O1 and O2 but no Oz.
    arff = shared_eeg / "uci_eeg_eye_state" / "eeg_eye_state.arff"
    assert main(["replay", str(arff), "--protocol", str(a), "--out", str(tmp_path / "x")]) == 1
    assert "Oz" in _error(capsys)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    edf = shared_eeg / EDF
    assert main(["replay", str(edf)]) == 1
    assert "--protocol" in _error(capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["replay", str(edf), "--protocol", str(a), "--out", str(busy)]) == 1
    assert "not empty" in _error(capsys)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    assert main(["replay", "--compare", str(busy)]) == 1
    _error(capsys)


def test_window_grid_alignment():
    sfreq, n_window, n_hop = 250.0, 250, 62
    stamps = 100.0 + np.arange(5000) / sfreq + 1e-6  # recorded times
    # The live engine's grid: windows ending at samples 37 + 62 k of the recording
    # (its first samples came before the recording began).
    live = stamps[np.arange(37, 5000, n_hop)]
    skip = align_skip(stamps, live, n_window, n_hop, sfreq)
    ends = grid_ends(len(stamps), n_window, n_hop, skip)
    assert ends[0] >= n_window - 1 and set(ends.tolist()) <= set(range(37, 5000, n_hop))
    assert np.array_equal(stamps[ends], live[-len(ends) :])
    assert nearest_window(stamps[ends], live[10] + 0.01, 0.124) is not None
    assert nearest_window(stamps[ends], stamps[-1] + 1.0, 0.124) is None

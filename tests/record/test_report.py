"""Reports of a real recorded session, of a replay folder and of a subject's sessions."""

from __future__ import annotations

import json
import re
import socket

import numpy as np
import pytest

from neuroadapt.cli import main
from neuroadapt.record.report import hedges_g, phase_stats, write_replay_report, write_report
from neuroadapt.record.tables import SessionTables, from_session
from neuroadapt.record.xdf import load_session_xdf
from tests.record.conftest import copy_session

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

SESSION_FIGURES = [
    "Signal quality over time",
    "Feature time courses",
    "Reward rate per block",
    "Artifact fraction per phase",
    "Baseline vs training distributions",
    "EEG spectrum per phase",
]
SESSION_TABLES = ["Session", "Protocol and phases", "Baseline vs training"]


def figures(page: str) -> list[str]:
    """Titles of the figures mne.Report embedded (as PNG data, nothing fetched)."""
    return re.findall(
        r'<img class="figure-img[^"]*" alt="([^"]+)"\s+src="data:image/png;base64,', page
    )


def assert_offline(page: str) -> None:
    assert not re.search(r'<(script|img|link)[^>]+(src|href)="(https?:)?//', page)


def test_session_report_has_every_section(recorded_session, tmp_path, capsys):
    folder = copy_session(recorded_session, tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    assert "report: writing" in capsys.readouterr().err
    page = out.read_text()
    assert figures(page) == SESSION_FIGURES
    for title in SESSION_TABLES:
        assert f">{title}<" in page, title
    assert "Hedges" in page and "BCa bootstrap" in page
    assert "S01" in page and "completed" in page and "alpha_relax" in page
    assert_offline(page)
    host = re.compile(rf"\b{re.escape(socket.gethostname())}\b")
    assert not host.search(re.sub(r"data:[a-z/+]+;base64,[A-Za-z0-9+/=]+", "", page))


def test_tables_of_a_recorded_session(recorded_session, tmp_path):
    session = load_session_xdf(recorded_session / "session.xdf")
    tables = from_session(session)
    tables.write(tmp_path)
    back = SessionTables.read(tmp_path)
    assert back.feature_names == ["alpha_rel"] and "fog_density" in back.param_names
    assert len(back.features) == len(session.features.times)
    kinds = set(back.control.column("phase_kind"))
    assert {"baseline", "training"} <= kinds
    # The reward is on exactly between reward_start and reward_end markers.
    t = np.asarray(back.control.floats("time"))
    reward = np.asarray(back.control.floats("reward")) > 0.5
    starts = [t0 for t0, ev in back.marker_events() if ev["event"] == "reward_start"]
    assert reward.any() and len(starts) == int(np.sum(np.diff(reward.astype(int)) == 1)) + int(
        reward[0]
    )
    assert not reward[np.asarray(back.control.column("phase_kind")) == "baseline"].any()
    # Windows held by the engine are the invalid ones, and name their detector.
    # (Features flow from before the protocol starts, control only from its start.)
    held = np.asarray(back.control.floats("hold")) > 0.5
    valid = np.asarray(back.features.floats("valid")) > 0.5
    ft = np.asarray(back.features.floats("time"))
    matched = np.abs(ft[:, None] - t[None, :]).min(axis=1) < 0.005
    assert matched.sum() == len(t) and valid[~matched].all()
    assert np.array_equal(held, ~valid[matched])
    artifacts = back.features.column("artifacts")
    assert all(artifacts[i] for i in np.flatnonzero(~valid))
    phases = phase_stats(back)
    assert [p.name for p in phases] == ["baseline", "training"]
    # The reward rate counts the windows that could be rewarded (not held), as the engine does.
    training = (t >= phases[1].start) & (np.asarray(back.control.column("phase")) == "training")
    assert phases[1].reward_rate == pytest.approx(reward[training & ~held].mean(), abs=1e-9)
    assert phases[1].held_fraction == pytest.approx(held[training].mean(), abs=1e-9)


def test_replay_report_from_tables(recorded_session, tmp_path):
    tables = from_session(load_session_xdf(recorded_session / "session.xdf"))
    tables.write(tmp_path)
    (tmp_path / "summary.json").write_text(
        json.dumps({"protocol": {"name": "alpha_relax", "version": "1.0.0", "sha256": "abc"}})
    )
    page = write_replay_report(tmp_path).read_text()
    assert figures(page) == SESSION_FIGURES[:-1]  # no EEG given: no spectra
    assert "alpha_relax 1.0.0" in page
    assert_offline(page)


def test_subject_report_puts_sessions_in_date_order(recorded_session, tmp_path, capsys):
    subject = tmp_path / "S01"
    subject.mkdir()
    first = copy_session(
        recorded_session, subject, "20200101T090000", start="2020-01-01T09:00:00+00:00"
    )
    second = copy_session(
        recorded_session, subject, "20200108T090000", start="2020-01-08T09:00:00+00:00"
    )
    assert main(["report", "--subject", str(subject)]) == 0
    err = capsys.readouterr().err
    assert "session 1/2" in err and "session 2/2" in err
    page = (subject / "subject_report.html").read_text()
    assert figures(page) == ["Learning curve"]
    assert page.index(first.name) < page.index(second.name)
    assert_offline(page)


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"neuroadapt: error: {tmp_path}: not a session folder (no session.json)"]
    assert main(["report", "--subject", str(tmp_path)]) == 1
    assert "no session folders" in capsys.readouterr().err
    assert main(["report"]) == 1
    assert "give a SESSION folder or --subject DIR" in capsys.readouterr().err


def test_hedges_g_matches_its_definition():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    # d = 1 / pooled sd (1) = 1; small-sample factor 1 - 3 / (4 * 6 - 9) = 0.8.
    assert hedges_g(a, b) == pytest.approx(0.8)
    assert hedges_g(b, a) == pytest.approx(-0.8)


def test_report_of_a_cut_recording_says_what_was_lost(recorded_session, tmp_path):
    import os

    folder = copy_session(recorded_session, tmp_path)
    xdf = folder / "session.xdf"
    os.truncate(xdf, int(xdf.stat().st_size * 0.7))  # the disk filled up, say
    path = write_report(folder)
    text = path.read_text(encoding="utf-8")
    assert "file cut at byte" in text

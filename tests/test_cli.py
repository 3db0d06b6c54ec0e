"""User mistakes end with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuroadapt.paths import PROJECT_ROOT


def neuroadapt(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, NEUROADAPT_HEADLESS="1")
    return subprocess.run(
        [sys.executable, "-m", "neuroadapt", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_help_lists_every_command():
    proc = neuroadapt("--help")
    assert proc.returncode == 0
    for cmd in (
        "demo",
        "run",
        "simulate",
        "engine",
        "scene",
        "scenes",
        "record",
        "validate",
        "streams",
    ):
        assert f"    {cmd} " in proc.stdout


def test_validate_ok_and_errors(tmp_path):
    proc = neuroadapt("validate", str(PROJECT_ROOT / "protocols" / "alpha_relax.toml"))
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": ok")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (PROJECT_ROOT / "protocols" / "alpha_relax.toml")
        .read_text()
        .replace("duration = 120.0", "duration = -1")
        .replace('parameter = "water_calm"', 'parameter = "waves"')
    )
    proc = neuroadapt("validate", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("phases[0].duration: input should be greater than 0" in ln for ln in lines)
    assert all(ln.startswith(str(bad)) for ln in lines)


def test_validate_reports_missing_scene_parameter_after_fixing_types(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (PROJECT_ROOT / "protocols" / "alpha_relax.toml")
        .read_text()
        .replace('parameter = "water_calm"', 'parameter = "waves"')
    )
    proc = neuroadapt("validate", str(bad))
    assert proc.returncode == 1
    assert "mappings[2].parameter: scene 'lagoon' has no parameter 'waves'" in proc.stdout


def test_validate_against_a_headset(tmp_path):
    proto = str(PROJECT_ROOT / "protocols" / "alpha_relax.toml")
    proc = neuroadapt("validate", proto, "--sfreq", "64", "--channels", "AF7,AF8,TP9,TP10")
    assert proc.returncode == 1
    assert "O1, Oz, O2 not in" in proc.stdout and "Nyquist" in proc.stdout


@pytest.mark.live
def test_no_matching_stream_lists_what_it_saw(uid):
    proc = neuroadapt(
        "engine",
        "--protocol",
        "alpha_relax",
        "--stream",
        f"nothing-{uid}",
        "--resolve-timeout",
        "1",
        "--pub",
        "tcp://127.0.0.1:*",
        "--commands",
        "tcp://127.0.0.1:*",
    )
    line = one_line_error(proc)
    assert line.startswith("neuroadapt: error: no LSL stream with name=")
    assert f"nothing-{uid}" in line and "seen" in line


def test_malformed_protocol_for_run_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[protocol\nname = 1\n")
    proc = neuroadapt("run", "--protocol", str(bad), "--subject", "P01", "--stream", "x")
    line = one_line_error(proc)
    assert "bad.toml: TOML syntax error" in line


def test_unknown_protocol_name_lists_shipped_ones():
    proc = neuroadapt("run", "--protocol", "nosuch", "--subject", "P01", "--stream", "x")
    line = one_line_error(proc)
    assert "protocol 'nosuch' not found; available:" in line and "alpha_relax" in line


def test_a_name_is_refused_as_subject_id():
    proc = neuroadapt("run", "--protocol", "alpha_relax", "--subject", "Jane Doe", "--stream", "x")
    line = one_line_error(proc)
    assert "--subject 'Jane Doe'" in line and "pseudonymous" in line


def test_unknown_scene_parameter_on_the_scene_command():
    proc = neuroadapt(
        "scene",
        "lagoon",
        "--headless",
        "--set",
        "fogginess=0.5",
        "--control",
        "none",
        "--duration",
        "1",
    )
    line = one_line_error(proc)
    assert "fogginess" in line and "fog_density" in line


def test_demo_refuses_too_short_a_session():
    line = one_line_error(neuroadapt("demo", "--duration", "5"))
    assert "--duration 5" in line


def test_info_describes_a_recording_and_refuses_a_non_recording(shared_eeg, tmp_path):
    edf = shared_eeg / "physionet_eegmmidb" / "S001R01.edf"
    proc = neuroadapt("info", str(edf))
    assert proc.returncode == 0, proc.stderr
    assert f"{edf}: edf, 64 channels @ 160 Hz, 61.0 s" in proc.stdout
    assert "O1, Oz, O2" in proc.stdout and "Fc5.->FC5" in proc.stdout
    fake = tmp_path / "notes.edf"
    fake.write_text("not an EDF file\n")
    line = one_line_error(neuroadapt("info", str(fake)))
    assert line.startswith("neuroadapt: error: ") and "notes.edf" in line


def test_validate_against_a_headset_profile():
    proto = str(PROJECT_ROOT / "protocols" / "alpha_relax.toml")
    proc = neuroadapt("validate", proto, "--profile", "muse")
    assert proc.returncode == 1
    assert "O1, Oz, O2 not in headset profile 'muse' (it has TP9, AF7, AF8, TP10)" in proc.stdout
    line = one_line_error(neuroadapt("validate", proto, "--profile", "nosuchheadset"))
    assert "nosuchheadset" in line

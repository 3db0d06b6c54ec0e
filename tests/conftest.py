"""Test configuration shared by the whole suite.

LSL discovery is restricted to this machine before pylsl is first used, so no
test ever looks past this host; every stream a test makes has a unique
``source_id``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from neuroadapt.lsl import use_machine_scope

use_machine_scope()
# Panda3D must never try to open a window in tests.
os.environ.setdefault("NEUROADAPT_HEADLESS", "1")

SHARED_EEG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eeg"


@pytest.fixture
def uid() -> str:
    """A unique id for stream names and source ids of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def shared_eeg() -> Path:
    """The real recordings in ``../shared/data/eeg``; skips when absent."""
    if not SHARED_EEG.is_dir():
        pytest.skip(f"real EEG recordings not found at {SHARED_EEG}")
    return SHARED_EEG


@dataclass(frozen=True)
class DemoRun:
    """A finished ``neuroadapt demo`` session: its folder and the finished process."""

    folder: Path
    proc: subprocess.CompletedProcess


#: Length of the shared demo session (s): a baseline, then feedback on scripted alpha.
DEMO_DURATION = 40


@pytest.fixture(scope="session")
def demo_session(tmp_path_factory) -> DemoRun:
    """One real session (simulator, engine, offscreen scene, console, LabRecorder).

    Run once for the whole test run and shared by the session, replay, report
    and export tests: never modify it (copy it first).
    """
    out = tmp_path_factory.mktemp("demo_sessions")
    env = dict(os.environ, NEUROADAPT_HEADLESS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuroadapt",
            "demo",
            "--duration",
            str(DEMO_DURATION),
            "--headless",
            "--out",
            str(out),
            "--subject",
            "S01",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    folders = sorted((out / "S01").glob("*_alpha_relax"))
    if proc.returncode != 0 or len(folders) != 1:
        pytest.fail(f"demo session failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return DemoRun(folders[0], proc)

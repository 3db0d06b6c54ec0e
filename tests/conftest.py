"""Test configuration shared by the whole suite.

LSL discovery is restricted to this machine before pylsl is first used, so no
test ever looks past this host; every stream a test makes has a unique
``source_id``.
"""

from __future__ import annotations

import os
import uuid
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

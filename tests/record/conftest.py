"""Fixtures of the recording tests: one real demo session shared by all of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def recorded_session(demo_session) -> Path:
    """The shared real demo session (see ``tests/conftest.py``); copy it before changing it."""
    return demo_session.folder


def copy_session(src: Path, dest_root: Path, stamp: str | None = None, **changes) -> Path:
    """Copy a session folder (optionally under another time stamp) and edit its session.json."""
    name = src.name if stamp is None else f"{stamp}_{src.name.split('_', 1)[1]}"
    dest = dest_root / name
    shutil.copytree(src, dest)
    if changes:
        path = dest / "session.json"
        meta = json.loads(path.read_text())
        meta.update(changes)
        path.write_text(json.dumps(meta, indent=2))
    return dest

"""Fixtures of the recording tests: one real demo session shared by all of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_DURATION = 25


@pytest.fixture(scope="session")
def recorded_session(tmp_path_factory) -> Path:
    """A real session folder: ``neuroadapt demo`` (simulator, engine, scene, recorder).

    Shared by every test of the session: do not modify it; copy it with
    :func:`copy_session` first.
    """
    out = tmp_path_factory.mktemp("recorded")
    env = dict(os.environ, NEUROADAPT_HEADLESS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "neuroadapt", "demo", "--duration", str(DEMO_DURATION),
         "--headless", "--out", str(out), "--subject", "S01", "--seed", "1"],
        capture_output=True, text=True, timeout=300, env=env)
    folders = sorted((out / "S01").glob("*_alpha_relax"))
    if proc.returncode != 0 or len(folders) != 1:
        pytest.fail(f"demo session failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return folders[0]


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

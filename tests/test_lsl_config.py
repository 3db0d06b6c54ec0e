"""The machine-scope LSL configuration finds every stream, even with many outlets alive."""

from __future__ import annotations

import os
import subprocess
import sys

import pylsl
import pytest

from neuroadapt.lsl import MACHINE_SCOPE_CONFIG

pytestmark = pytest.mark.live

FIND = """
import sys, time
import pylsl
resolver = pylsl.ContinuousResolver(prop="source_id", value=sys.argv[1])
deadline = time.monotonic() + 8
while time.monotonic() < deadline:
    if resolver.results():
        print("found")
        break
    time.sleep(0.1)
else:
    print("missing")
"""


def test_a_fresh_process_finds_outlets_beyond_liblsls_default_port_range(uid):
    # liblsl's default range is 32 ports; each outlet takes several. A fresh resolver
    # (as LabRecorderCLI and the supervisor are) must still see the later outlets.
    outlets = [
        pylsl.StreamOutlet(pylsl.StreamInfo(f"many-{i}", "EEG", 1, 10, "float32", f"{uid}-{i}"))
        for i in range(45)
    ]
    env = dict(os.environ, LSLAPICFG=str(MACHINE_SCOPE_CONFIG))
    try:
        for i in (20, 31, 44):
            out = subprocess.run(
                [sys.executable, "-c", FIND, f"{uid}-{i}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            assert out == "found", f"outlet {i} of 45 was not found"
    finally:
        del outlets


def test_commands_keep_liblsl_quiet_unless_the_user_has_a_config(monkeypatch, tmp_path):
    from neuroadapt import lsl

    monkeypatch.delenv("LSLAPICFG", raising=False)
    monkeypatch.setattr(lsl, "USER_CONFIGS", (tmp_path / "lsl_api.cfg",))
    lsl.use_quiet_logging()
    assert lsl.os.environ["LSLAPICFG"] == str(lsl.QUIET_CONFIG)
    assert "level = -2" in lsl.QUIET_CONFIG.read_text()
    # A user's own config file stays in charge.
    monkeypatch.delenv("LSLAPICFG")
    (tmp_path / "lsl_api.cfg").write_text("[lab]\nKnownPeers = {10.0.0.2}\n")
    lsl.use_quiet_logging()
    assert "LSLAPICFG" not in lsl.os.environ
    # So does LSLAPICFG.
    monkeypatch.setenv("LSLAPICFG", "/somewhere/mine.cfg")
    lsl.use_quiet_logging()
    assert lsl.os.environ["LSLAPICFG"] == "/somewhere/mine.cfg"

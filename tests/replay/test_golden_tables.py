"""Replay tables of the shipped protocols on real recordings stay byte for byte the same.

Each shipped protocol, scaled to the recording's length, is replayed on the shared real
recordings through ``neuroadapt replay``; the SHA-256 of ``features.tsv``,
``control.tsv`` and ``markers.tsv`` (or the one-line error of a protocol that does not
fit a recording) must equal the digests in ``golden_tables.json``. A refactor that
changes any number, marker or error fails here.

The digests were taken before the layering refactor. Regenerate them only for a change
meant to alter the output, and say so in its commit:
``NEUROADAPT_REGEN_GOLDEN=1 pytest tests/replay/test_golden_tables.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from neuroadapt.cli import main
from neuroadapt.paths import find_protocol
from neuroadapt.protocol import load_protocol
from tests.conftest import SHARED_EEG

GOLDEN = Path(__file__).with_name("golden_tables.json")
TABLES = ("features.tsv", "control.tsv", "markers.tsv")
PROTOCOLS = ("alpha_relax", "alpha_theta", "smr_attention", "frontal_asymmetry")
#: Recording, the protocol length (s) that fits in it, and the channels the protocols'
#: own are replaced by on a headset that lacks them (text replacements in the TOML).
RECORDINGS = {
    "S001R02": ("physionet_eegmmidb/S001R02.edf", 55.0, ()),
    "S001R03": ("physionet_eegmmidb/S001R03.edf", 120.0, ()),
    "openbci": (
        "openbci_gui/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt",
        85.0,
        (
            ('"Oz"', '"O1"'),
            ('"Pz"', '"P7"'),
            ('"Cz"', '"C3"'),
            ('"F3"', '"Fp1"'),
            ('"F4"', '"Fp2"'),
        ),
    ),
    "dsi7": (
        "xdf_bci_essentials/ssvep_example_dsi7.xdf",
        100.0,
        (('"O1"', '"C3"'), ('"Oz"', '"C4"'), ('"O2"', '"F4"'), ('"Pz"', '"C4"'), ('"Cz"', '"C3"')),
    ),
    "uci": (
        "uci_eeg_eye_state/eeg_eye_state.arff",
        110.0,
        (('"Oz"', '"O2"'), ('"Pz"', '"P7"'), ('"Cz"', '"T7"')),
    ),
}
REGEN = os.environ.get("NEUROADAPT_REGEN_GOLDEN") == "1"


def _replay(recording: str, protocol: str, tmp: Path, capsys) -> dict[str, str]:
    """Digest of each table, or ``{"error": ...}`` with the one-line error."""
    path, seconds, replacements = RECORDINGS[recording]
    loaded = load_protocol(find_protocol(protocol))
    text = loaded.protocol.scaled(seconds / loaded.protocol.duration).to_toml()
    for old, new in replacements:
        text = text.replace(old, new)
    scaled = tmp / f"{protocol}.toml"
    scaled.write_text(text, encoding="utf-8")
    out = tmp / f"{recording}-{protocol}"
    capsys.readouterr()
    rc = main(
        ["replay", str(SHARED_EEG / path), "--protocol", str(scaled), "--out", str(out), "--quiet"]
    )
    if rc != 0:
        err = capsys.readouterr().err.strip().splitlines()
        return {"error": err[-1].replace(str(tmp), "TMP") if err else f"exit {rc}"}
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in TABLES}


@pytest.fixture(scope="module")
def golden() -> dict:
    if REGEN or not GOLDEN.is_file():
        return {}
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
def test_replay_tables_unchanged(recording, golden, tmp_path, capsys):
    path = SHARED_EEG / RECORDINGS[recording][0]
    if not path.is_file():
        pytest.skip(f"real EEG recording not found at {path}")
    got = {protocol: _replay(recording, protocol, tmp_path, capsys) for protocol in PROTOCOLS}
    if REGEN:
        data = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.is_file() else {}
        data[recording] = got
        GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden digests written")
    assert recording in golden, f"no golden digests for {recording}: regenerate them"
    # At least one shipped protocol must run on every recording, or the check is empty.
    assert any("error" not in v for v in got.values()), got
    for protocol in PROTOCOLS:
        assert got[protocol] == golden[recording][protocol], f"{recording} / {protocol}"

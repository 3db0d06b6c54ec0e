"""Headset profiles (eeg/*.toml, neuroadapt.profiles)."""

from __future__ import annotations

import warnings
from pathlib import Path

import mne
import pytest

from neuroadapt.errors import ConfigError
from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.profiles import (
    HeadsetProfile,
    ProfileError,
    find_profile,
    list_profiles,
    load_profile,
)

SHIPPED = sorted(p.stem for p in (PROJECT_ROOT / "eeg").glob("*.toml"))
REQUIRED = {"generic-10-20", "openbci-cyton-8", "muse", "emotiv-epoc", "dsi-7", "gusbamp-16"}


def test_the_required_profiles_are_shipped() -> None:
    assert set(SHIPPED) >= REQUIRED
    assert set(list_profiles()) >= REQUIRED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_and_is_placed_in_its_montage(name: str) -> None:
    p = load_profile(name)
    assert isinstance(p, HeadsetProfile)
    assert p.id == name and p.path.name == f"{name}.toml"
    assert p.name and p.manufacturer and p.description.strip() and p.reference
    assert p.units in ("uV", "mV", "V")
    assert p.sfreq is None or p.sfreq > 0
    assert len(set(p.channels)) == len(p.channels)
    # Independent of the loader's own check: every EEG label with a position is
    # a channel of the montage, spelled as MNE spells it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        montage = set(mne.channels.make_standard_montage(p.montage).ch_names)
    placed = [c for c in p.eeg_channels if c not in p.unplaced]
    assert placed, "a profile with no placed EEG channel is useless for topography"
    assert set(placed) <= montage
    assert set(p.channel_map.values()) <= set(p.channels)
    assert set(p.channel_types) <= set(p.channels)


@pytest.mark.parametrize(
    ("name", "channels", "sfreq"),
    [
        ("muse", ["TP9", "AF7", "AF8", "TP10"], 256),
        (
            "emotiv-epoc",
            "AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4".split(),
            128,
        ),
        ("openbci-cyton-8", ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"], 250),
        ("dsi-7", ["S2", "F4", "C4", "S3", "S1", "C3", "F3", "TRG"], 300),
        (
            "gusbamp-16",
            "F3 Fz F4 FC3 FCz FC4 C5 C3 C1 Cz C2 C4 C6 CP5 CP4 Pz".split(),
            256,
        ),
    ],
)
def test_profile_facts(name: str, channels: list[str], sfreq: float) -> None:
    p = load_profile(name)
    assert list(p.channels) == channels
    assert p.sfreq == sfreq


def test_generic_cap_has_19_channels_and_maps_old_temporal_names() -> None:
    p = load_profile("generic-10-20")
    assert p.n_channels == 19 and p.sfreq is None
    assert dict(p.channel_map) == {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}


def test_dsi7_quirks_are_declared() -> None:
    p = load_profile("dsi-7")
    assert p.channel_type("TRG") == "stim"
    assert set(p.unplaced) == {"S1", "S2", "S3"}
    assert p.eeg_channels == ("S2", "F4", "C4", "S3", "S1", "C3", "F3")
    assert p.stream_name_hint == "DSI"


def test_openbci_profile_maps_gui_column_names() -> None:
    p = load_profile("openbci-cyton-8")
    assert [p.channel_map[f"EXG Channel {k}"] for k in range(8)] == list(p.channels)


def test_profiles_match_the_recordings_they_describe(shared_eeg: Path) -> None:
    from neuroadapt.sources.files import read_recording

    xdf = shared_eeg / "xdf_bci_essentials"
    usbamp = read_recording(xdf / "sub-P001_ses-S001_task-MISwitch_run-002_eeg.xdf")
    assert usbamp.original_names == list(load_profile("gusbamp-16").channels)
    dsi = read_recording(xdf / "ssvep_example_dsi7.xdf")
    assert dsi.original_names == list(load_profile("dsi-7").channels)
    epoc = read_recording(shared_eeg / "uci_eeg_eye_state" / "eeg_eye_state.arff")
    assert epoc.ch_names == list(load_profile("emotiv-epoc").channels)


def test_load_by_path_and_by_environment_folder(tmp_path: Path, monkeypatch) -> None:
    src = (PROJECT_ROOT / "eeg" / "muse.toml").read_text()
    path = tmp_path / "my-muse.toml"
    path.write_text(src.replace('name = "Muse"', 'name = "My Muse"'))
    assert load_profile(path).name == "My Muse"
    assert load_profile(str(path)).id == "my-muse"
    monkeypatch.setenv("NEUROADAPT_EEG", str(tmp_path))
    assert "my-muse" in list_profiles()
    assert find_profile("my-muse") == path
    assert load_profile("my-muse").name == "My Muse"
    # A folder earlier in the search path shadows a shipped profile of the same id.
    (tmp_path / "muse.toml").write_text(src.replace('name = "Muse"', 'name = "Shadow"'))
    assert load_profile("muse").name == "Shadow"


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("no-such-headset")
    msg = str(info.value)
    assert "\n" not in msg
    assert "'no-such-headset'" in msg and "muse" in msg and "dsi-7" in msg


def test_missing_profile_path(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such headset profile file"):
        load_profile(tmp_path / "gone.toml")


GOOD = """
channels = ["Fp1", "Fp2", "O1", "O2"]
montage = "standard_1020"
sfreq = 250
units = "uV"
reference = "Cz"

[headset]
name = "Test cap"
manufacturer = "nobody"
"""


def test_a_minimal_profile_loads_with_either_montage_spelling(tmp_path: Path) -> None:
    for montage in ("standard_1020", "colin27_1020"):
        f = tmp_path / "cap.toml"
        f.write_text(GOOD.replace("standard_1020", montage))
        p = load_profile(f)
        assert p.channels == ("Fp1", "Fp2", "O1", "O2")
        assert p.montage in mne.channels.get_builtin_montages()
        assert p.stream_type is None and dict(p.channel_map) == {}


def _problems(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert isinstance(info.value, ConfigError)
    for line in info.value.problems:
        assert line.startswith(f"{f}: "), line
        assert "\n" not in line
    return [line.removeprefix(f"{f}: ") for line in info.value.problems]


def test_schema_errors_give_field_paths_all_at_once(tmp_path: Path) -> None:
    text = """
channels = "Fp1"
montage = "standard_1020"
sfreq = -5
units = "microvolts"
colour = "red"

[headset]
manufacturer = "nobody"
"""
    problems = _problems(tmp_path, text)
    paths = {p.split(":")[0] for p in problems}
    assert paths == {"headset.name", "channels", "sfreq", "units", "colour", "reference"}
    assert "colour: unknown field" in problems
    assert "headset.name: required field is missing" in problems
    assert any(p.startswith("sfreq: ") and "(got -5)" in p for p in problems)


def test_cross_field_errors_name_the_field_and_label(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            'channels = ["Fp1", "Fp2", "O1", "O2"]',
            'channels = ["Fp1", "FP2", "Xx9", "O1", "fp1"]\nunplaced = ["Q"]',
        )
        + '\n[channel_map]\n"EXG Channel 0" = "Zz"\n\n[channel_types]\nTRG = "stim"\n'
    )
    problems = _problems(tmp_path, text)
    assert "channels[1]: montage 'standard_1020' writes 'FP2' as 'Fp2'" in problems
    assert any(p.startswith("channels[2]: 'Xx9' is not a channel of montage") for p in problems)
    assert any(p.startswith("channels[4]: duplicate label 'fp1'") for p in problems)
    assert "unplaced[0]: 'Q' is not in channels" in problems
    assert "channel_map.EXG Channel 0: 'Zz' is not in channels" in problems
    assert "channel_types.TRG: 'TRG' is not in channels" in problems


def test_unknown_montage_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("standard_1020", "standard_9999"))
    assert len(problems) == 1
    assert problems[0].startswith("montage: 'standard_9999' is not an MNE built-in montage")


def test_non_eeg_and_unplaced_channels_are_exempt_from_the_montage(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            'channels = ["Fp1", "Fp2", "O1", "O2"]',
            'channels = ["Fp1", "S1", "TRG"]\nunplaced = ["S1"]',
        )
        + '\n[channel_types]\nTRG = "stim"\n'
    )
    f = tmp_path / "ok.toml"
    f.write_text(text)
    p = load_profile(f)
    assert p.eeg_channels == ("Fp1", "S1")


def test_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, 'channels = ["Fp1"\n')
    assert len(problems) == 1 and problems[0].startswith("TOML syntax error")

"""Channel-name normalisation and matching (neuroadapt.sources.channels)."""

from __future__ import annotations

import warnings

import mne
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuroadapt.errors import NeuroadaptError
from neuroadapt.sources.channels import (
    ALIASES,
    RecordingError,
    canonical_labels,
    match_channels,
    normalise_channel,
    normalise_channels,
    resolve_montage,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # BCI2000 / PhysioNet EEGMMIDB pads labels to four characters with dots.
        ("O1..", "O1"),
        ("Oz..", "Oz"),
        ("Fc5.", "FC5"),
        ("Fcz.", "FCz"),
        ("Fp1.", "Fp1"),
        ("Iz..", "Iz"),
        ("T10.", "T10"),
        # Clinical EDF: a type prefix and a reference suffix.
        ("EEG Fp1-REF", "Fp1"),
        ("EEG FP1", "Fp1"),
        ("EEG FP1-LE", "Fp1"),
        ("eeg cz-ref", "Cz"),
        ("EEG-O2", "O2"),
        ("EEG_Pz", "Pz"),
        ("Cz-AVG", "Cz"),
        ("Fz - REF", "Fz"),
        # Capitals and white space.
        ("FZ", "Fz"),
        ("FP2", "Fp2"),
        ("fpz", "Fpz"),
        ("AFZ", "AFz"),
        ("TP10", "TP10"),
        ("  C3 ", "C3"),
        ("poz", "POz"),
        # Already canonical.
        ("Fp1", "Fp1"),
        ("CP4", "CP4"),
        # The old temporal names are kept (ALIASES handles matching).
        ("T3", "T3"),
        ("EEG T5", "T5"),
        ("t4", "T4"),
        # Reference electrodes are in standard_1005 too.
        ("A1", "A1"),
        ("m2", "M2"),
    ],
)
def test_normalise_channel_table(raw: str, expected: str) -> None:
    assert normalise_channel(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "EEG 001",  # FIF numbering: no electrode name behind the prefix
        "STI 014",
        "S1",  # DSI-7 sensors without a position
        "TRG",
        "Fp1-F7",  # a bipolar derivation is not a label
        "EXG Channel 0",
        "Status",
        "ch:00",
        "REF_EEG REF_EEG",
        "",
        "EEG",
    ],
)
def test_unknown_names_are_kept_exactly(raw: str) -> None:
    assert normalise_channel(raw) == raw


def test_canonical_labels_come_from_mne_standard_1005() -> None:
    name = resolve_montage("standard_1005")
    assert name is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # old MNE spelling, if that is what we have
        montage = mne.channels.make_standard_montage(name)
    assert canonical_labels() == frozenset(montage.ch_names)
    assert len(canonical_labels()) == 343
    assert {"Fp1", "FCz", "TP10", "Oz", "T7", "T3"} <= canonical_labels()


def test_resolve_montage_accepts_old_and_new_spellings() -> None:
    builtin = set(mne.channels.get_builtin_montages())
    for old, new in [("standard_1020", "colin27_1020"), ("standard_1005", "colin27_1005")]:
        assert resolve_montage(old) in builtin
        assert resolve_montage(new) in builtin
        assert resolve_montage(old) == resolve_montage(new)
    assert resolve_montage("biosemi64") == "biosemi64"
    assert resolve_montage("no_such_montage") is None


def test_normalise_channels_keeps_order() -> None:
    names = ["Fc5.", "EEG FP1-REF", "EEG 001", "oz.."]
    assert normalise_channels(names) == ["FC5", "Fp1", "EEG 001", "Oz"]


def test_duplicates_after_normalisation_name_both_originals() -> None:
    with pytest.raises(RecordingError) as info:
        normalise_channels(["Cz", "EEG Fp1-REF", "Pz", "FP1."], where="rec.edf")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("rec.edf: ")
    assert "'EEG Fp1-REF'" in msg and "'FP1.'" in msg and "'Fp1'" in msg
    assert isinstance(info.value, NeuroadaptError)


def test_duplicate_unknown_names_are_refused_too() -> None:
    with pytest.raises(RecordingError, match="'ch:00'"):
        normalise_channels(["ch:00", "ch:00"])


def test_match_channels_finds_indices_case_insensitively() -> None:
    available = ["Fc5.", "Fc3.", "O1..", "Oz..", "O2..", "EEG 001"]
    assert match_channels(["o1", "OZ", "O2"], available, "recording S001R01.edf") == [2, 3, 4]
    assert match_channels(["EEG FC3-REF"], available, "x") == [1]
    assert match_channels(["eeg 001"], available, "x") == [5]
    assert match_channels([], available, "x") == []


def test_match_channels_uses_aliases_both_ways() -> None:
    assert match_channels(["T7", "P8"], ["Fz", "T3", "T6"], "old cap") == [1, 2]
    assert match_channels(["T3"], ["T7", "Cz"], "new cap") == [0]
    # The exact name wins over an alias when both exist.
    assert match_channels(["T7"], ["T3", "T7"], "both") == [1]
    assert all(ALIASES[ALIASES[k]] == k for k in ALIASES)


def test_match_channels_error_lists_what_the_recording_has() -> None:
    available = ["Fc5.", "Fc3.", "Cz..", "Oz.."]
    with pytest.raises(RecordingError) as info:
        match_channels(["Oz", "Pz2"], available, "recording S001R01.edf")
    assert str(info.value) == (
        "recording S001R01.edf has no channel 'Pz2' (it has: FC5, FC3, Cz, Oz)"
    )
    with pytest.raises(RecordingError, match=r"has no channels 'Pz2', 'Q1' \(it has: "):
        match_channels(["Pz2", "Q1"], available, "recording S001R01.edf")


# --------------------------------------------------------------- properties
_LABELS = sorted(canonical_labels())


@st.composite
def _spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A canonical label written as some system might write it."""
    label = draw(st.sampled_from(_LABELS))
    flips = draw(st.lists(st.booleans(), min_size=len(label), max_size=len(label)))
    text = "".join(c.swapcase() if f else c for c, f in zip(label, flips, strict=True))
    text = draw(st.sampled_from(["", "EEG ", "eeg-", "EEG_"])) + text
    text += draw(st.sampled_from(["", ".", "..", "-REF", "-le", " -Ref"]))
    return label, text


@given(_spelled())
def test_any_spelling_of_a_label_maps_back(case: tuple[str, str]) -> None:
    label, text = case
    assert normalise_channel(text) == label


@given(st.text(max_size=12))
def test_normalisation_is_idempotent_and_keeps_unknowns(name: str) -> None:
    once = normalise_channel(name)
    assert normalise_channel(once) == once
    assert once == name or once in canonical_labels()

"""Headset profiles: what an EEG headset's channels are called and where they sit.

A profile is a TOML file in one of the folders of
:func:`neuroadapt.paths.search_path` ``("eeg")`` (``$NEUROADAPT_EEG``, ``./eeg``,
the project's ``eeg/``), named by its file stem (``muse``, ``dsi-7``). Top-level
keys come first, because in TOML every key after a ``[table]`` header belongs to
that table::

    channels = ["TP9", "AF7", "AF8", "TP10"]   # labels, in stream order
    montage = "colin27_1005"                     # an MNE built-in montage
    sfreq = 256                                  # Hz; omit when it varies
    units = "uV"                                 # "uV", "mV" or "V"
    reference = "Fpz"
    stream_type = "EEG"                          # optional: LSL stream type
    stream_name_hint = "Muse"                    # optional: part of the stream name
    unplaced = []                                # optional: EEG labels with no position

    [headset]
    name = "Muse"
    manufacturer = "InteraXon"
    description = "..."

    [channel_map]        # optional: a name as the device writes it -> label
    "EXG Channel 0" = "Fp1"

    [channel_types]      # optional: label -> MNE channel type when not "eeg"
    TRG = "stim"

Every EEG label must be a channel of the montage (with the montage's
capitalisation), except those listed in ``unplaced`` and those typed other than
``eeg`` in ``[channel_types]``; the exceptions are documented in each file.
Problems are reported all at once, one line each: ``FILE: field.path: reason``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neuroadapt.errors import ConfigError
from neuroadapt.paths import search_path
from neuroadapt.sources.channels import resolve_montage
from neuroadapt.validation import error_lines

__all__ = ["HeadsetProfile", "ProfileError", "find_profile", "list_profiles", "load_profile"]

Units = Literal["uV", "mV", "V"]
# Channel types a profile may give, a subset of MNE's that a headset can carry.
ChannelType = Literal["eeg", "eog", "ecg", "emg", "misc", "stim", "resp", "bio"]


class ProfileError(ConfigError):
    """A headset profile is malformed or unknown; ``problems`` holds one line per error."""


# ------------------------------------------------------------------ file schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NonEmpty = Annotated[str, Field(min_length=1)]


class _Headset(_Strict):
    name: NonEmpty
    manufacturer: NonEmpty
    description: str = ""


class _ProfileFile(_Strict):
    headset: _Headset
    channels: Annotated[list[NonEmpty], Field(min_length=1)]
    montage: NonEmpty
    sfreq: Annotated[float, Field(gt=0)] | None = None
    units: Units
    reference: NonEmpty
    stream_type: NonEmpty | None = None
    stream_name_hint: NonEmpty | None = None
    unplaced: list[NonEmpty] = []
    channel_map: dict[str, NonEmpty] = {}
    channel_types: dict[str, ChannelType] = {}


# ------------------------------------------------------------------ public object
@dataclass(frozen=True)
class HeadsetProfile:
    """A validated headset profile.

    Attributes
    ----------
    id : str
        The file stem, by which the profile is loaded (``"muse"``).
    path : Path
        The file it was read from.
    name, manufacturer, description : str
        From ``[headset]``.
    channels : tuple of str, length n_channels
        Channel labels in the order the device sends them.
    montage : str
        Name of the MNE built-in montage holding the labels' positions, spelled
        as the installed MNE knows it (``standard_1020`` and ``colin27_1020``
        are the same montage, renamed in MNE 1.13).
    sfreq : float or None
        Sampling rate in Hz, or None when the device has several.
    units : {"uV", "mV", "V"}
        Unit of the EEG samples the device sends.
    reference : str
        The recording reference, as a human-readable note.
    stream_type, stream_name_hint : str or None
        LSL stream type and a part of the stream name that identify the device.
    unplaced : tuple of str
        EEG labels whose position the montage does not give.
    channel_map : mapping of str to str
        Name as the device or its software writes it -> label in ``channels``.
    channel_types : mapping of str to str
        Label -> MNE channel type, for the channels that are not EEG.
    """

    id: str
    path: Path
    name: str
    manufacturer: str
    description: str
    channels: tuple[str, ...]
    montage: str
    sfreq: float | None
    units: str
    reference: str
    stream_type: str | None = None
    stream_name_hint: str | None = None
    unplaced: tuple[str, ...] = ()
    channel_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    channel_types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def n_channels(self) -> int:
        """Number of channels the device sends."""
        return len(self.channels)

    def channel_type(self, label: str) -> str:
        """MNE channel type of ``label`` (``"eeg"`` unless the profile says otherwise)."""
        return self.channel_types.get(label, "eeg")

    @property
    def eeg_channels(self) -> tuple[str, ...]:
        """The labels typed ``eeg``, in order."""
        return tuple(c for c in self.channels if self.channel_type(c) == "eeg")


# ------------------------------------------------------------------ validation


@cache
def _montage_labels(montage: str) -> tuple[str, ...] | None:
    """Channel names of an MNE built-in montage, or None if there is no such montage."""
    import mne

    name = resolve_montage(montage)
    if name is None:
        return None
    return tuple(mne.channels.make_standard_montage(name).ch_names)


def _cross_check(p: _ProfileFile) -> list[str]:
    """Checks between fields that the schema cannot express one field at a time."""
    errs: list[str] = []
    seen: dict[str, int] = {}
    for i, label in enumerate(p.channels):
        key = label.casefold()
        if key in seen:
            errs.append(f"channels[{i}]: duplicate label {label!r} (also channels[{seen[key]}])")
        seen.setdefault(key, i)
    known = set(p.channels)
    for i, label in enumerate(p.unplaced):
        if label not in known:
            errs.append(f"unplaced[{i}]: {label!r} is not in channels")
    for raw, label in p.channel_map.items():
        if label not in known:
            errs.append(f"channel_map.{raw}: {label!r} is not in channels")
    for label in p.channel_types:
        if label not in known:
            errs.append(f"channel_types.{label}: {label!r} is not in channels")

    import mne

    names = _montage_labels(p.montage)
    if names is None:
        errs.append(
            f"montage: {p.montage!r} is not an MNE built-in montage; "
            f"available: {', '.join(mne.channels.get_builtin_montages())}"
        )
        return errs
    by_upper = {n.upper(): n for n in names}
    exempt = set(p.unplaced) | {c for c, t in p.channel_types.items() if t != "eeg"}
    for i, label in enumerate(p.channels):
        if label in exempt or label in names:
            continue
        spelled = by_upper.get(label.upper())
        if spelled is not None:
            errs.append(f"channels[{i}]: montage {p.montage!r} writes {label!r} as {spelled!r}")
        else:
            errs.append(
                f"channels[{i}]: {label!r} is not a channel of montage {p.montage!r} "
                f"(list it in 'unplaced' or give it a non-EEG type in [channel_types])"
            )
    return errs


def parse_profile(text: str, source: str = "<profile>", *, profile_id: str = "") -> HeadsetProfile:
    """Parse and validate profile text.

    Parameters
    ----------
    text : str
        TOML content.
    source : str
        File name used in messages and as the profile's ``path``.
    profile_id : str
        The profile's id (defaults to the stem of ``source``).

    Raises
    ------
    ProfileError
        With one ``source: field.path: reason`` line per problem.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: TOML syntax error: {exc}") from None
    try:
        p = _ProfileFile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError([f"{source}: {line}" for line in error_lines(exc)]) from None
    errs = _cross_check(p)
    if errs:
        raise ProfileError([f"{source}: {line}" for line in errs])
    path = Path(source)
    return HeadsetProfile(
        id=profile_id or path.stem,
        path=path,
        name=p.headset.name,
        manufacturer=p.headset.manufacturer,
        description=p.headset.description,
        channels=tuple(p.channels),
        # The spelling the installed MNE knows (see resolve_montage), ready for
        # mne.channels.make_standard_montage.
        montage=resolve_montage(p.montage) or p.montage,
        sfreq=p.sfreq,
        units=p.units,
        reference=p.reference,
        stream_type=p.stream_type,
        stream_name_hint=p.stream_name_hint,
        unplaced=tuple(p.unplaced),
        channel_map=MappingProxyType(dict(p.channel_map)),
        channel_types=MappingProxyType(dict(p.channel_types)),
    )


# ------------------------------------------------------------------ discovery
def list_profiles() -> list[str]:
    """Ids of the profiles found in the ``eeg`` search path, sorted; the first folder wins."""
    ids: dict[str, Path] = {}
    for folder in search_path("eeg"):
        for f in sorted(folder.glob("*.toml")):
            ids.setdefault(f.stem, f)
    return sorted(ids)


def find_profile(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a profile given as a path or as a profile id (``"openbci-cyton-8"``).

    Raises
    ------
    ProfileError
        If no such profile exists, naming those that do.
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or os.sep in text or path.exists():
        return path
    for folder in search_path("eeg"):
        candidate = folder / f"{text}.toml"
        if candidate.is_file():
            return candidate
    raise ProfileError(
        f"headset profile {text!r} not found; available: {', '.join(list_profiles()) or 'none'}"
    )


def load_profile(name_or_path: str | os.PathLike[str]) -> HeadsetProfile:
    """Load and validate a headset profile by id or path.

    Parameters
    ----------
    name_or_path : str or path-like
        A profile id (the file stem in the ``eeg`` search path) or a ``.toml`` path.

    Returns
    -------
    HeadsetProfile

    Raises
    ------
    ProfileError
        If the profile is unknown, unreadable or malformed; one line per problem.
    """
    path = find_profile(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such headset profile file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read ({exc})") from None
    return parse_profile(text, str(path), profile_id=path.stem)

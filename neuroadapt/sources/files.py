"""EEG recordings read from files, and replayed chunk by chunk as a :class:`Source`.

:func:`read_recording` reads every format neuroadapt meets into one
:class:`Recording`: samples ``(n_samples, n_channels)`` in µV, per-sample times,
normalised channel names (:mod:`neuroadapt.sources.channels`), channel types and
annotations. The readers are the field's own:

=================  =========================  =========================================
format             extension                  reader
=================  =========================  =========================================
``edf``            ``.edf`` (EDF, EDF+)       ``mne.io.read_raw`` (``infer_types``)
``bdf``            ``.bdf``                   ``mne.io.read_raw`` (``infer_types``)
``brainvision``    ``.vhdr``                  ``mne.io.read_raw``
``fif``            ``.fif``, ``.fif.gz``      ``mne.io.read_raw``
``eeglab``         ``.set``                   ``mne.io.read_raw``
``xdf``            ``.xdf``, ``.xdfz``        ``pyxdf.load_xdf`` via ``record.xdfio``
``openbci``        ``.txt``, ``.csv``         ``numpy.loadtxt`` on the known columns
``arff``           ``.arff``                  ``scipy.io.arff.loadarff``
=================  =========================  =========================================

Conventions:

- ``times`` are seconds from the first sample in every format. XDF files keep
  their LSL clock in ``t0`` (the LSL time of the first EEG sample), so
  ``t0 + times`` are the original LSL timestamps; ``t0`` is 0 elsewhere.
- Annotation onsets are seconds on the same axis as ``times``; XDF markers that
  were sent before the first EEG sample have negative onsets.
- Channels that MNE gives in volts are returned in µV (``units`` says ``"µV"``);
  other channels (stim, and MNE's untyped "misc" channels) as MNE gives them.
- What a reader had to assume or tolerate (a sampling rate taken from a headset
  profile, a unit that was not stated, gaps in the timestamps, warnings of MNE
  and pyxdf) is listed in ``Recording.warnings``, one line each.
- A file cut short (a recorder killed, a disk full, a copy interrupted) is read
  up to its last whole unit: every whole XDF chunk (:mod:`neuroadapt.record.xdfio`),
  every whole EDF/BDF data record; what was lost is said in ``warnings``. A
  partial sample or record is never returned.
- Anything that makes a file unusable (missing, cut inside its header or before
  its first data, damaged, unknown format, no EEG) raises :class:`RecordingError`
  with one line that names the file.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroadapt.errors import ConfigError
from neuroadapt.sources.base import Source
from neuroadapt.sources.channels import RecordingError, normalise_channels

if TYPE_CHECKING:
    import mne

    from neuroadapt.profiles import HeadsetProfile

__all__ = [
    "FORMATS",
    "Annotation",
    "FileSource",
    "Recording",
    "RecordingError",
    "read_recording",
]

#: Extension (lower case) -> format name.
FORMATS: dict[str, str] = {
    ".edf": "edf",
    ".bdf": "bdf",
    ".vhdr": "brainvision",
    ".fif": "fif",
    ".fif.gz": "fif",
    ".set": "eeglab",
    ".xdf": "xdf",
    ".xdfz": "xdf",
    ".txt": "openbci",
    ".csv": "openbci",
    ".arff": "arff",
}
_MNE_FORMATS = ("edf", "bdf", "brainvision", "fif", "eeglab")
_FORMAT_TITLES = {
    "edf": "EDF",
    "bdf": "BDF",
    "brainvision": "BrainVision",
    "fif": "FIF",
    "eeglab": "EEGLAB",
    "xdf": "XDF",
    "openbci": "OpenBCI GUI text",
    "arff": "ARFF",
}
# Files that belong to a recording but are not read directly: the reader opens
# them through the header named here.
_COMPANIONS = {
    ".eeg": ("data file of a BrainVision recording", ".vhdr"),
    ".vmrk": ("marker file of a BrainVision recording", ".vhdr"),
    ".fdt": ("data file of an EEGLAB dataset", ".set"),
}
_DEFAULT_OPENBCI_PROFILE = "openbci-cyton-8"
_DEFAULT_ARFF_PROFILE = "emotiv-epoc"
# The UCI "EEG Eye State" convention: eyeDetection is 1 with the eyes closed.
_ARFF_LABELS = {"eyedetection": {"0": "eyes_open", "1": "eyes_closed"}}
_MICROVOLT = "µV"
_VOLT_SCALE = {
    "microvolts": 1.0, "microvolt": 1.0, "uv": 1.0, "µv": 1.0, "μv": 1.0,
    "millivolts": 1e3, "millivolt": 1e3, "mv": 1e3,
    "volts": 1e6, "volt": 1e6, "v": 1e6,
    "nanovolts": 1e-3, "nanovolt": 1e-3, "nv": 1e-3,
}  # fmt: skip
_PROFILE_UNIT_SCALE = {"uV": 1.0, "mV": 1e3, "V": 1e6}
# XDF channel types that are not MNE type names but mean a trigger input.
_STIM_WORDS = {"trigger", "trg", "marker", "markers", "event", "events", "stim"}
# A step between two XDF timestamps longer than this many sample periods is a
# gap (dropped samples or a clock reset); pyxdf's dejitter makes regular
# streams exactly periodic, so 2 periods is far above any jitter left.
_GAP_PERIODS = 2.0
# Effective and nominal rate may differ this much (relative) before we say so.
_RATE_TOLERANCE = 0.01
_MAX_MESSAGE = 300


# ------------------------------------------------------------------ data types
@dataclass(frozen=True)
class Annotation:
    """A labelled time span (or instant) of a recording.

    Attributes
    ----------
    onset : float
        Start in seconds on the recording's ``times`` axis (0 = first sample).
    duration : float
        Length in seconds, 0 for an instant.
    description : str
        The label as the file gives it (``"T0"``, ``"Stimulus/S253"``, ``"eyes_closed"``).
    source : str
        Where it came from: the marker stream (XDF), the stim channel or
        marker column, or ``""`` for the file's own annotations.
    """

    onset: float
    duration: float
    description: str
    source: str = ""


@dataclass
class Recording:
    """A whole EEG recording in memory.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_channels), float64
        The samples, C-contiguous; µV for channels in volts (see ``units``).
    times : ndarray of shape (n_samples,), float64
        Seconds from the first sample. For XDF, the LSL timestamps minus ``t0``
        (after pyxdf's clock synchronisation and dejitter), which may hold gaps.
    sfreq : float
        Nominal sampling rate in Hz.
    ch_names : list of str, length n_channels
        Normalised channel names (:func:`~neuroadapt.sources.channels.normalise_channel`),
        after any headset profile renamed them.
    original_names : list of str, length n_channels
        The names as the file writes them.
    ch_types : list of str, length n_channels
        MNE channel types: ``"eeg"``, ``"eog"``, ``"ecg"``, ``"misc"``, ``"stim"``, ...
    units : list of str, length n_channels
        ``"µV"`` for voltage channels, otherwise the unit the file states (or ``""``).
    annotations : list of Annotation
        Sorted by onset.
    path : Path
        The file read.
    format : str
        One of ``"edf"``, ``"bdf"``, ``"brainvision"``, ``"fif"``, ``"eeglab"``,
        ``"xdf"``, ``"openbci"``, ``"arff"``.
    t0 : float
        For XDF, the LSL time of the first sample; 0 otherwise.
    warnings : list of str
        What the reader assumed or tolerated, one line each.
    """

    data: np.ndarray
    times: np.ndarray
    sfreq: float
    ch_names: list[str]
    original_names: list[str]
    ch_types: list[str]
    units: list[str]
    annotations: list[Annotation]
    path: Path
    format: str
    t0: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        """Number of samples (rows of ``data``)."""
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels (columns of ``data``)."""
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds, ``n_samples / sfreq``."""
        return self.n_samples / self.sfreq

    def __repr__(self) -> str:
        return (
            f"<Recording {self.path.name} ({self.format}): {self.n_channels} ch x "
            f"{self.n_samples} samples at {self.sfreq:g} Hz, "
            f"{len(self.annotations)} annotations>"
        )

    def to_raw(self) -> mne.io.RawArray:
        """The recording as an MNE ``RawArray``, in volts, with its annotations.

        Annotations outside the data (XDF markers sent before the first or after
        the last sample) are left out, as MNE requires.

        Returns
        -------
        mne.io.RawArray
            ``n_channels`` channels named ``ch_names`` with ``ch_types``.
        """
        import mne

        info = mne.create_info(list(self.ch_names), self.sfreq, list(self.ch_types))
        # MNE keeps voltages in volts; channels without a voltage unit stay as they are.
        scale = np.array([1e-6 if u == _MICROVOLT else 1.0 for u in self.units])
        raw = mne.io.RawArray((self.data * scale).T, info, verbose="error")
        if self.annotations:
            raw.set_annotations(
                mne.Annotations(
                    onset=[a.onset for a in self.annotations],
                    duration=[a.duration for a in self.annotations],
                    description=[a.description for a in self.annotations],
                ),
                verbose="error",
            )
        return raw


@dataclass
class _Parts:
    """What one format reader found, before names, profile and selection are applied."""

    data: np.ndarray  # (n_samples, n_channels) float64, µV for voltage channels
    sfreq: float
    names: list[str]  # what the reader calls the channels, to be normalised
    types: list[str]
    units: list[str]
    annotations: list[Annotation] = field(default_factory=list)
    times: np.ndarray | None = None  # None: regular, from sfreq
    t0: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # False when the file holds placeholders ("EXG Channel 0", "ch1") instead of
    # electrode names, so a headset profile may name the channels by position.
    named_by_file: bool = True
    # Where in the file the channels come from, for messages (" in stream 'X'").
    origin: str = ""
    # The names as the file writes them, when the reader changed them (MNE's
    # infer_types drops "EEG " and "EOG " prefixes); None: the same as names.
    original: list[str] | None = None


# ------------------------------------------------------------------ helpers
def _one_line(obj: object) -> str:
    """An exception or warning as one short line."""
    text = " ".join(str(obj).split()) or type(obj).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


@contextmanager
def _capture_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the readers' warnings for ``Recording.warnings``.

    Deprecation-type warnings concern the installation, not the file: they are
    emitted again, unchanged, when the block ends. Python's warning filters are
    process-wide, so files are best read from one thread at a time.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept: list[warnings.WarningMessage] = []
        yield kept
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            kept.append(w)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _capture_log(name: str) -> Iterator[list[logging.LogRecord]]:
    """Collect a library logger's warnings and errors instead of printing them."""
    logger = logging.getLogger(name)
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".fif.gz"):
        return "fif"
    suffix = path.suffix.lower()
    if suffix in _COMPANIONS:
        what, header = _COMPANIONS[suffix]
        headers = sorted(p.name for p in path.parent.glob(f"*{header}"))
        here = f" (here: {', '.join(headers)})" if headers else ""
        raise RecordingError(f"{path}: this is the {what}; open its {header} file instead{here}")
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(set(FORMATS)))
        raise RecordingError(
            f"{path}: unknown recording format {path.suffix or '(no extension)'!r} "
            f"(neuroadapt reads {known})"
        )
    if fmt == "openbci":
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except OSError as exc:
            raise RecordingError(f"{path}: cannot read: {_one_line(exc)}") from None
        if not first.startswith("%OpenBCI"):
            raise RecordingError(
                f"{path}: not an OpenBCI GUI recording (the first line does not start "
                f"with '%OpenBCI'); neuroadapt reads {path.suffix} files only from the OpenBCI GUI"
            )
    return fmt


def _resolve_profile(
    profile: str | os.PathLike[str] | HeadsetProfile | None, path: Path
) -> HeadsetProfile | None:
    from neuroadapt.profiles import HeadsetProfile, load_profile

    if profile is None or isinstance(profile, HeadsetProfile):
        return profile
    try:
        return load_profile(profile)
    except ConfigError as exc:
        # RecordingError is one line: the first problem, and how many more there are.
        more = len(exc.problems) - 1
        tail = f" (and {more} more; load_profile lists them all)" if more else ""
        raise RecordingError(f"{path}: headset profile: {exc.problems[0]}{tail}") from None


def _default_profile(name: str) -> HeadsetProfile | None:
    """A shipped profile a reader falls back on, or None if it cannot be found."""
    from neuroadapt.profiles import load_profile

    try:
        return load_profile(name)
    except ConfigError:
        return None


# ------------------------------------------------------------------ MNE formats
def _read_mne(path: Path, fmt: str) -> _Parts:
    import mne
    from mne.io.constants import FIFF

    title = _FORMAT_TITLES[fmt]
    kwargs: dict[str, Any] = {}
    original: list[str] | None = None
    layout = _edf_layout(path, fmt) if fmt in ("edf", "bdf") else None
    with _capture_warnings() as caught:
        try:
            if fmt in ("edf", "bdf"):
                # infer_types turns "EOG VEOG" into an eog channel "VEOG" but drops
                # the prefix from the name, so the names are read from the header first.
                original = list(mne.io.read_raw(path, preload=False, verbose="error").ch_names)
                kwargs["infer_types"] = True
            raw = mne.io.read_raw(path, preload=True, verbose="warning", **kwargs)
        except Exception as exc:  # the readers raise many types on damaged files
            raise RecordingError(f"{path}: cannot read as {title}: {_one_line(exc)}") from None
    messages = [_one_line(w.message) for w in caught]
    sfreq = float(raw.info["sfreq"])
    if layout is not None:
        # MNE reads the whole records of a cut file and warns that the record
        # count "does not match the file size"; say instead what is left.
        messages = [m for m in messages if "does not match the file size" not in m]
        messages += _edf_cut_notes(path, layout, raw.n_times, sfreq)
    types = list(raw.get_channel_types())
    data = raw.get_data()  # (n_channels, n_times), SI units
    units: list[str] = []
    scale = np.ones(len(types))
    for i, (ch, kind) in enumerate(zip(raw.info["chs"], types, strict=True)):
        if ch["unit"] == FIFF.FIFF_UNIT_V and kind != "stim":
            scale[i] = 1e6
            units.append(_MICROVOLT)
        else:
            units.append("")
    annotations: list[Annotation] = []
    ann = raw.annotations
    # With a measurement date, MNE counts onsets from it, not from the first sample.
    shift = raw.first_time if ann.orig_time is not None else 0.0
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        annotations.append(Annotation(float(onset - shift), float(duration), str(desc)))
    for name, kind in zip(raw.ch_names, types, strict=True):
        if kind != "stim":
            continue
        try:
            events = mne.find_events(raw, stim_channel=name, shortest_event=1, verbose="error")
        except Exception as exc:  # a stim channel MNE cannot decode is not fatal
            messages.append(f"events of stim channel {name!r} not read: {_one_line(exc)}")
            continue
        for sample, _, code in events:
            onset = (int(sample) - raw.first_samp) / sfreq
            annotations.append(Annotation(onset, 0.0, str(int(code)), source=name))
    return _Parts(
        data=np.ascontiguousarray((data * scale[:, None]).T),
        sfreq=sfreq,
        names=list(raw.ch_names),
        original=original,
        types=types,
        units=units,
        annotations=annotations,
        times=None,
        warnings=messages,
    )


@dataclass(frozen=True)
class _EdfLayout:
    """Where an EDF/BDF file's data records are, from its fixed-format header."""

    header_bytes: int
    n_records: int  # as the header says; -1 while the recorder was still writing
    record_seconds: float
    record_bytes: int
    size: int

    @property
    def n_present(self) -> int:
        """Whole data records in the file."""
        return max(0, self.size - self.header_bytes) // self.record_bytes


def _edf_layout(path: Path, fmt: str) -> _EdfLayout | None:
    """Read the record layout of an EDF/BDF header (EDF specification, 1992).

    Returns None where the header's fields are not numbers: MNE then says what
    is wrong. Raises :class:`RecordingError` for a file cut inside its header or
    before its first whole data record, where MNE raises unhelpful errors.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            fixed = f.read(256)
            if len(fixed) < 256:
                raise RecordingError(
                    f"{path}: file cut inside its header ({size} bytes; an "
                    f"{_FORMAT_TITLES[fmt]} header is at least 256)"
                )
            header_bytes = int(fixed[184:192])
            n_records = int(fixed[236:244])
            record_seconds = float(fixed[244:252])
            n_signals = int(fixed[252:256])
            if header_bytes != 256 * (n_signals + 1) or n_signals < 1:
                return None
            f.seek(256 + 216 * n_signals)
            counts = f.read(8 * n_signals)
            if len(counts) < 8 * n_signals:
                raise RecordingError(
                    f"{path}: file cut inside its header ({size} of {header_bytes} bytes)"
                )
            per_record = sum(int(counts[8 * i : 8 * i + 8]) for i in range(n_signals))
    except ValueError:
        return None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {_one_line(exc)}") from None
    if size < header_bytes:
        raise RecordingError(f"{path}: file cut inside its header ({size} of {header_bytes} bytes)")
    if per_record < 1:
        return None
    layout = _EdfLayout(
        header_bytes, n_records, record_seconds, per_record * (3 if fmt == "bdf" else 2), size
    )
    if layout.n_present == 0 and n_records != 0:
        raise RecordingError(
            f"{path}: file cut before its first whole data record ({size - header_bytes} of "
            f"{layout.record_bytes} bytes after the header); no data to read"
        )
    return layout


def _edf_cut_notes(path: Path, layout: _EdfLayout, n_times: int, sfreq: float) -> list[str]:
    """Say what a cut EDF/BDF file lost; refuse anything MNE read beyond the whole records."""
    present = layout.n_present
    expected = round(present * layout.record_seconds * sfreq)
    if layout.record_seconds > 0 and n_times > expected:
        # Never data made up past the end of the file (zeros, or garbage).
        raise RecordingError(
            f"{path}: the reader returned {n_times} samples but the file holds only "
            f"{present} whole data records ({expected} samples); refused"
        )
    tail = (layout.size - layout.header_bytes) % layout.record_bytes
    seconds = present * layout.record_seconds
    notes: list[str] = []
    if layout.n_records < 0:
        notes.append(
            f"the header gives no record count (the recorder did not finish the file); "
            f"read the {present} whole data records ({seconds:g} s)"
        )
    elif present < layout.n_records:
        notes.append(
            f"file cut: {present} of {layout.n_records} data records present, "
            f"{seconds:g} s of {layout.n_records * layout.record_seconds:g} s recovered"
        )
    elif present > layout.n_records:
        notes.append(
            f"the file holds {present} data records, its header says {layout.n_records}; "
            f"the {present - layout.n_records} records past the header's count are ignored"
        )
    if tail:
        notes.append(
            f"the last {tail} bytes are an incomplete data record ({tail} of "
            f"{layout.record_bytes} bytes); left out"
        )
    return notes


# ------------------------------------------------------------------ XDF
def _text(node: Any, key: str) -> str | None:
    """A text field of pyxdf's parsed XML (every value is a list of one string)."""
    if not isinstance(node, dict):
        return None
    value = node.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() if isinstance(value, str) else None


def _child(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return None
    value = node.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


@dataclass
class _StreamInfo:
    stream: dict
    name: str
    type: str
    format: str
    n_channels: int
    srate: float
    n_samples: int

    @property
    def numeric(self) -> bool:
        return self.format != "string"

    def describe(self) -> str:
        kind = self.type or "no type"
        if not self.numeric:
            return f"{self.name!r} ({kind}, strings, {self.n_samples} markers)"
        rate = f"{self.srate:g} Hz" if self.srate > 0 else "irregular"
        return (
            f"{self.name!r} ({kind}, {self.n_channels} x {self.format}, {rate}, "
            f"{self.n_samples} samples)"
        )


def _stream_info(s: dict) -> _StreamInfo:
    info = s.get("info", {})
    try:
        srate = float(_text(info, "nominal_srate") or 0.0)
    except ValueError:
        srate = 0.0
    try:
        n_ch = int(_text(info, "channel_count") or 0)
    except ValueError:
        n_ch = 0
    return _StreamInfo(
        stream=s,
        name=_text(info, "name") or "",
        type=_text(info, "type") or "",
        format=(_text(info, "channel_format") or "").lower(),
        n_channels=n_ch,
        srate=srate,
        n_samples=len(s.get("time_stamps", [])),
    )


def _pick_stream(
    path: Path, infos: list[_StreamInfo], stream: str | None, profile: HeadsetProfile | None
) -> tuple[_StreamInfo, list[str]]:
    """Choose the EEG stream; returns it and any warning about the choice."""
    listing = "; ".join(i.describe() for i in infos)
    if stream is not None:
        matches = [i for i in infos if i.name == stream] or [
            i for i in infos if i.name.casefold() == stream.casefold()
        ]
        if not matches:
            raise RecordingError(f"{path}: no stream named {stream!r} (streams: {listing})")
        if len(matches) > 1:
            raise RecordingError(f"{path}: {len(matches)} streams are named {stream!r}")
        chosen = matches[0]
        if not chosen.numeric:
            raise RecordingError(f"{path}: stream {stream!r} holds strings (markers), not samples")
        if chosen.n_samples == 0:
            raise RecordingError(f"{path}: stream {stream!r} holds no samples")
        if chosen.srate <= 0:
            raise RecordingError(f"{path}: stream {stream!r} has an irregular rate, not EEG")
        return chosen, []
    numeric = [i for i in infos if i.numeric]
    if not numeric:
        raise RecordingError(f"{path}: no stream holds numeric samples (streams: {listing})")
    candidates = [i for i in numeric if i.n_samples > 0 and i.srate > 0]
    typed = [i for i in numeric if i.type.casefold() == "eeg"]
    eeg = [i for i in typed if i in candidates]
    if profile is not None and profile.stream_name_hint:
        hint = profile.stream_name_hint.casefold()
        hinted = [i for i in (eeg or candidates) if hint in i.name.casefold()]
        if len(hinted) == 1:
            return hinted[0], []
    if len(eeg) == 1:
        return eeg[0], []
    if len(eeg) > 1:
        raise RecordingError(
            f"{path}: {len(eeg)} EEG streams ({'; '.join(i.describe() for i in eeg)}); "
            f"choose one with stream=NAME"
        )
    if typed:
        raise RecordingError(
            f"{path}: the EEG stream holds no samples ({'; '.join(i.describe() for i in typed)})"
        )
    if not candidates:
        raise RecordingError(
            f"{path}: no numeric stream holds regular samples (streams: {listing})"
        )
    if len(candidates) > 1:
        raise RecordingError(
            f"{path}: no stream is typed EEG and {len(candidates)} numeric streams could be "
            f"({'; '.join(i.describe() for i in candidates)}); choose one with stream=NAME"
        )
    only = candidates[0]
    return only, [
        f"no stream is typed EEG; read {only.name!r} (type {only.type!r}), "
        f"the only numeric stream with samples"
    ]


def _channel_type(declared: str | None, stream_is_eeg: bool) -> str:
    """MNE channel type of an XDF channel from its declared type."""
    import mne

    if declared:
        word = declared.casefold()
        if word in mne.io.get_channel_type_constants(include_defaults=True):
            return word
        if word in _STIM_WORDS:
            return "stim"
        return "misc"
    return "eeg" if stream_is_eeg else "misc"


def _read_xdf(path: Path, stream: str | None, profile: HeadsetProfile | None) -> _Parts:
    from neuroadapt.record.xdfio import load_xdf_robust

    # A cut or damaged file keeps every whole chunk before the cut (xdfio says
    # what was lost, in the notes); a file with nothing usable raises.
    with _capture_log("pyxdf") as records, _capture_warnings() as caught:
        streams, _, recovery = load_xdf_robust(path)
    errors = [r for r in records if r.levelno >= logging.ERROR]
    if errors:
        # pyxdf skips what it cannot parse and goes on; xdfio hands it only whole
        # chunks, so an error here means a hole it would paper over: refused.
        raise RecordingError(f"{path}: damaged XDF file: {_one_line(errors[0].getMessage())}")
    if not streams:
        raise RecordingError(f"{path}: the XDF file holds no streams")
    notes = [_one_line(n.removeprefix(f"{path.name}: ")) for n in recovery]
    notes += [_one_line(r.getMessage()) for r in records]
    notes += [_one_line(w.message) for w in caught]

    infos = [_stream_info(s) for s in streams]
    chosen, why = _pick_stream(path, infos, stream, profile)
    notes += why
    s = chosen.stream
    info = s["info"]
    stamps = np.asarray(s["time_stamps"], dtype=np.float64)
    try:
        samples = np.asarray(s["time_series"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RecordingError(
            f"{path}: stream {chosen.name!r} has non-numeric samples ({_one_line(exc)})"
        ) from None
    if samples.ndim == 1:
        samples = samples[:, None]
    n_ch = samples.shape[1]

    # Labels, types and units from desc/channels/channel, when the stream has them.
    node = _child(_child(info, "desc"), "channels")
    channels: list[Any] = node.get("channel", []) if isinstance(node, dict) else []
    if channels and len(channels) != n_ch:
        notes.append(
            f"stream {chosen.name!r} describes {len(channels)} channels but has {n_ch}; "
            f"its channel descriptions are ignored"
        )
        channels = []
    labels = [_text(c, "label") for c in channels] if channels else [None] * n_ch
    named = all(labels)
    if not named:
        notes.append(f"stream {chosen.name!r} does not label its channels; named ch1..ch{n_ch}")
    names = [lab if lab else f"ch{i + 1}" for i, lab in enumerate(labels)]
    stream_is_eeg = chosen.type.casefold() == "eeg" or stream is not None
    declared = [_text(c, "type") for c in channels] if channels else [None] * n_ch
    types = [_channel_type(d, stream_is_eeg) for d in declared]
    given = [_text(c, "unit") for c in channels] if channels else [None] * n_ch

    scale = np.ones(n_ch)
    units: list[str] = []
    unstated: list[str] = []
    unknown: dict[str, list[str]] = {}
    for i, (unit, kind) in enumerate(zip(given, types, strict=True)):
        factor = _VOLT_SCALE.get(unit.casefold()) if unit else None
        if factor is None and kind == "eeg" and not unit and profile is not None:
            factor = _PROFILE_UNIT_SCALE[profile.units]
        if factor is not None:
            scale[i] = factor
            units.append(_MICROVOLT)
        elif kind == "eeg":
            # The XDF meta-data conventions for EEG prefer microvolts.
            units.append(_MICROVOLT)
            if unit:
                unknown.setdefault(unit, []).append(names[i])
            else:
                unstated.append(names[i])
        else:
            units.append(unit or "")
    if unstated:
        notes.append(f"no unit given for {_name_list(unstated)}; assumed µV")
    for unit, chans in unknown.items():
        notes.append(f"unknown unit {unit!r} for {_name_list(chans)}; assumed µV")

    t0 = float(stamps[0])
    times = stamps - t0
    notes += _timing_notes(chosen, times)

    annotations: list[Annotation] = []
    for other in infos:
        if other.numeric:
            continue
        for ts, value in zip(other.stream["time_stamps"], other.stream["time_series"], strict=True):
            text = value[0] if len(value) == 1 else ", ".join(str(v) for v in value)
            annotations.append(Annotation(float(ts) - t0, 0.0, str(text), source=other.name))

    return _Parts(
        data=np.ascontiguousarray(samples * scale[None, :]),
        sfreq=chosen.srate,
        names=names,
        types=types,
        units=units,
        annotations=annotations,
        times=times,
        t0=t0,
        warnings=notes,
        named_by_file=named,
        origin=f" in stream {chosen.name!r} (type {chosen.type!r})",
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _name_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _timing_notes(chosen: _StreamInfo, times: np.ndarray) -> list[str]:
    """Say where an XDF stream's timestamps are not the regular grid its rate promises."""
    notes: list[str] = []
    name = chosen.name
    effective = chosen.stream["info"].get("effective_srate")
    if isinstance(effective, int | float) and effective > 0:
        if abs(effective - chosen.srate) / chosen.srate > _RATE_TOLERANCE:
            notes.append(
                f"stream {name!r}: effective rate {effective:.4g} Hz differs from the "
                f"nominal {chosen.srate:g} Hz"
            )
    if len(times) < 2:
        return notes
    step = np.diff(times)
    back = np.flatnonzero(step <= 0)
    if len(back):
        notes.append(
            f"stream {name!r}: timestamps do not increase at {_plural(len(back), 'sample')} "
            f"(first at {times[back[0]]:.3f} s)"
        )
    gaps = np.flatnonzero(step > _GAP_PERIODS / chosen.srate)
    if len(gaps):
        largest = gaps[np.argmax(step[gaps])]
        notes.append(
            f"stream {name!r}: {_plural(len(gaps), 'gap')} in the timestamps, the largest "
            f"{step[largest]:.3f} s at {times[largest]:.3f} s; samples kept as recorded"
        )
    return notes


# ------------------------------------------------------------------ OpenBCI GUI
_RATE_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _read_openbci(
    path: Path, profile: HeadsetProfile | None
) -> tuple[_Parts, HeadsetProfile | None]:
    """Read an OpenBCI GUI file; returns it and the profile that names its channels."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {_one_line(exc)}") from None
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("%"):
        n_header += 1
    if n_header >= len(lines):
        raise RecordingError(f"{path}: OpenBCI file has no column-name line after its % header")
    meta: dict[str, str] = {}
    for line in lines[:n_header]:
        key, sep, value = line[1:].partition("=")
        if sep:
            meta[key.strip().casefold()] = value.strip()
    rate_text = meta.get("sample rate")
    match = _RATE_RE.search(rate_text or "")
    if match is None:
        raise RecordingError(f"{path}: OpenBCI header has no 'Sample Rate = ... Hz' line")
    sfreq = float(match.group())
    if not sfreq > 0:
        raise RecordingError(f"{path}: OpenBCI header gives sample rate {rate_text!r}")
    columns = [c.strip() for c in lines[n_header].split(",")]
    exg = [i for i, c in enumerate(columns) if c.casefold().startswith("exg channel")]
    if not exg:
        raise RecordingError(
            f"{path}: OpenBCI column line has no 'EXG Channel' columns (v5/v6 GUI files have)"
        )
    marker = next((i for i, c in enumerate(columns) if c.casefold() == "marker channel"), None)
    usecols = exg + ([marker] if marker is not None else [])
    notes: list[str] = []
    if profile is None and len(exg) == 8:
        profile = _default_profile(_DEFAULT_OPENBCI_PROFILE)
        if profile is not None:
            notes.append(
                f"OpenBCI files do not store electrode positions: assumed OpenBCI's default "
                f"Cyton layout ({', '.join(profile.channels)}) from headset profile "
                f"{profile.id!r}"
            )
        else:
            notes.append(
                f"headset profile {_DEFAULT_OPENBCI_PROFILE!r} not found; channels keep the "
                f"file's names"
            )

    body = lines[n_header + 1 :]
    while body and not body[-1].strip():
        body.pop()
    if body and len(body[-1].split(",")) < len(columns):
        # The GUI appends line by line; when it is killed the last line is cut.
        # Only that line is forgiven: a bad line anywhere else is an error,
        # because dropping it would shift every later sample in time.
        body.pop()
        notes.append("the last line is incomplete (the GUI stopped while writing it); left out")
    if not body:
        raise RecordingError(f"{path}: OpenBCI file holds no samples")
    try:
        table = np.loadtxt(body, delimiter=",", usecols=usecols, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise RecordingError(
            f"{path}: bad OpenBCI sample line after the column names: {_one_line(exc)}"
        ) from None
    names = [columns[i] for i in exg]
    stated = meta.get("number of channels")
    if stated and stated.isdigit() and int(stated) != len(exg):
        notes.append(f"header says {stated} channels, the file has {len(exg)} EXG columns")
    annotations: list[Annotation] = []
    if marker is not None:
        codes = table[:, -1]
        previous = np.concatenate([[0.0], codes[:-1]])
        for k in np.flatnonzero((codes != 0) & (codes != previous)):
            annotations.append(Annotation(k / sfreq, 0.0, f"{codes[k]:g}", "Marker Channel"))
    parts = _Parts(
        data=np.ascontiguousarray(table[:, : len(exg)]),
        sfreq=sfreq,
        names=names,
        types=["eeg"] * len(exg),
        units=[_MICROVOLT] * len(exg),  # the GUI writes EXG channels in µV
        annotations=annotations,
        warnings=notes,
        named_by_file=False,
    )
    return parts, profile


# ------------------------------------------------------------------ ARFF
def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of equal values."""
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(values)]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _read_arff(path: Path, profile: HeadsetProfile) -> _Parts:
    from scipy.io import arff

    try:
        table, meta = arff.loadarff(path)
    except Exception as exc:  # scipy raises ParseArffError, ValueError, StopIteration...
        raise RecordingError(f"{path}: cannot read as ARFF: {_one_line(exc)}") from None
    names = meta.names()
    kinds = meta.types()
    numeric = [n for n, k in zip(names, kinds, strict=True) if k == "numeric"]
    nominal = [n for n, k in zip(names, kinds, strict=True) if k == "nominal"]
    if not numeric:
        raise RecordingError(f"{path}: ARFF file has no numeric attribute (no channels)")
    if len(table) == 0:
        raise RecordingError(f"{path}: ARFF file holds no samples")
    if profile.sfreq is None:
        raise RecordingError(
            f"{path}: ARFF files store no sampling rate and headset profile "
            f"{profile.id!r} gives none"
        )
    sfreq = float(profile.sfreq)
    notes = [
        f"ARFF files store no sampling rate: read at {sfreq:g} Hz, the rate of headset "
        f"profile {profile.id!r}"
    ]
    data = np.column_stack([table[n].astype(np.float64) for n in numeric])
    data *= _PROFILE_UNIT_SCALE[profile.units]
    annotations: list[Annotation] = []
    for col in nominal:
        values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in table[col]])
        labels = _ARFF_LABELS.get(col.casefold(), {})
        for start, stop in _runs(values):
            value = values[start]
            if value == "?":  # ARFF's missing value
                continue
            annotations.append(
                Annotation(
                    start / sfreq,
                    (stop - start) / sfreq,
                    labels.get(value, f"{col}={value}"),
                    source=col,
                )
            )
    return _Parts(
        data=np.ascontiguousarray(data),
        sfreq=sfreq,
        names=list(numeric),
        types=["eeg"] * len(numeric),
        units=[_MICROVOLT] * len(numeric),
        annotations=annotations,
        warnings=notes,
    )


# ------------------------------------------------------------------ assembly
def _apply_profile(parts: _Parts, profile: HeadsetProfile) -> list[str]:
    """Rename and retype channels as the profile says; returns the new names."""
    names = list(parts.names)
    original = parts.original or parts.names
    mapping = {k.casefold(): v for k, v in profile.channel_map.items()}
    if mapping:
        names = [
            mapping.get(n.strip().casefold(), mapping.get(o.strip().casefold(), n))
            for n, o in zip(names, original, strict=True)
        ]
    elif not parts.named_by_file:
        if len(names) == profile.n_channels:
            names = list(profile.channels)
        else:
            parts.warnings.append(
                f"headset profile {profile.id!r} has {profile.n_channels} channels, the "
                f"file {len(names)}; channels keep the file's names"
            )
    for i, name in enumerate(names):
        if name in profile.channel_types:
            parts.types[i] = profile.channel_types[name]
    if profile.sfreq is not None and abs(profile.sfreq - parts.sfreq) > 1e-6 * profile.sfreq:
        parts.warnings.append(
            f"the file's rate {parts.sfreq:g} Hz differs from headset profile "
            f"{profile.id!r} ({profile.sfreq:g} Hz); the file's rate is used"
        )
    return names


def _assemble(
    parts: _Parts, path: Path, fmt: str, eeg_only: bool, profile: HeadsetProfile | None
) -> Recording:
    if not (np.isfinite(parts.sfreq) and parts.sfreq > 0):
        raise RecordingError(f"{path}: sampling rate {parts.sfreq!r} is not a positive number")
    names = _apply_profile(parts, profile) if profile is not None else list(parts.names)
    labels = normalise_channels(names, where=str(path))
    keep = (
        [i for i, t in enumerate(parts.types) if t == "eeg"]
        if eeg_only
        else list(range(len(labels)))
    )
    if not keep:
        counts = {t: parts.types.count(t) for t in dict.fromkeys(parts.types)}
        kinds = ", ".join(f"{n} {t}" for t, n in counts.items()) or "no channels"
        raise RecordingError(
            f"{path}: no EEG channels{parts.origin} ({kinds}); "
            f"pass eeg_only=False to read them anyway"
        )
    data = parts.data if len(keep) == parts.data.shape[1] else parts.data[:, keep]
    data = np.ascontiguousarray(data, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        raise RecordingError(f"{path}: the recording holds no samples")
    times = parts.times if parts.times is not None else np.arange(n) / parts.sfreq
    bad = ~np.isfinite(data)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        parts.warnings.append(
            f"{_plural(int(bad.sum()), 'non-finite sample')} in "
            f"{_name_list([labels[keep[c]] for c in cols])}"
        )
    return Recording(
        data=data,
        times=np.ascontiguousarray(times, dtype=np.float64),
        sfreq=float(parts.sfreq),
        ch_names=[labels[i] for i in keep],
        original_names=[(parts.original or parts.names)[i] for i in keep],
        ch_types=[parts.types[i] for i in keep],
        units=[parts.units[i] for i in keep],
        annotations=sorted(parts.annotations, key=lambda a: a.onset),
        path=path,
        format=fmt,
        t0=parts.t0,
        warnings=list(dict.fromkeys(parts.warnings)),
    )


def read_recording(
    path: str | os.PathLike[str],
    *,
    stream: str | None = None,
    eeg_only: bool = True,
    profile: str | os.PathLike[str] | HeadsetProfile | None = None,
) -> Recording:
    """Read an EEG recording from a file.

    Parameters
    ----------
    path : str or path-like
        The file; its extension chooses the reader (see :data:`FORMATS`).
        BrainVision recordings are opened through their ``.vhdr`` header.
    stream : str, optional
        XDF only: the name of the stream to read. By default the one stream typed
        ``EEG`` with samples (or, failing that, the only numeric stream with samples).
    eeg_only : bool
        Keep only channels of type ``eeg`` (drops EOG, ECG, misc and stim
        channels; stim channels' events stay as annotations).
    profile : str, path-like or HeadsetProfile, optional
        A headset profile (:func:`neuroadapt.profiles.load_profile`) whose
        ``channel_map`` renames channels, whose labels name unlabelled channels
        by position, whose ``channel_types`` retype channels (DSI-7 ``TRG`` ->
        stim), and whose rate is used where the file has none. Without one,
        OpenBCI files with 8 EXG channels use ``openbci-cyton-8`` (OpenBCI's
        default layout: an assumption, recorded in ``warnings``) and ARFF files
        use ``emotiv-epoc`` for their 128 Hz rate.

    Returns
    -------
    Recording

    Raises
    ------
    RecordingError
        If the file is missing, truncated, damaged, of an unknown format or
        without EEG, or the stream or profile asked for does not exist. The
        message is one line and names the file.
    """
    p = Path(path)
    if not p.exists():
        raise RecordingError(f"{p}: no such file")
    if p.is_dir():
        raise RecordingError(f"{p}: is a folder, not a recording file")
    fmt = _detect_format(p)
    if stream is not None and fmt != "xdf":
        raise RecordingError(f"{p}: stream= applies to XDF files only, this is {fmt}")
    prof = _resolve_profile(profile, p)
    if fmt in _MNE_FORMATS:
        parts = _read_mne(p, fmt)
    elif fmt == "xdf":
        parts = _read_xdf(p, stream, prof)
    elif fmt == "openbci":
        parts, prof = _read_openbci(p, prof)
    else:  # arff
        if prof is None:
            prof = _default_profile(_DEFAULT_ARFF_PROFILE)
            if prof is None:
                raise RecordingError(
                    f"{p}: ARFF files store no sampling rate and the headset profile "
                    f"{_DEFAULT_ARFF_PROFILE!r} that gives it was not found; pass profile="
                )
        parts = _read_arff(p, prof)
    return _assemble(parts, p, fmt, eeg_only, prof)


# ------------------------------------------------------------------ replay
class FileSource(Source):
    """Replay a :class:`Recording` as a source, one chunk per :meth:`pull`.

    Offline and clock-free: each call returns the next ``chunk`` samples at
    once, whatever the time, so a whole file runs as fast as its consumer.
    Timestamps are ``recording.t0 + recording.times``: the original LSL times for
    XDF, seconds from the first sample for the other formats.

    Parameters
    ----------
    recording : Recording
        What to replay.
    chunk : int, optional
        Samples per :meth:`pull`; default a tenth of a second (at least 1).

    Attributes
    ----------
    ch_names : list of str
        The recording's channel names.
    sfreq : float
        The recording's sampling rate.
    """

    def __init__(self, recording: Recording, *, chunk: int | None = None) -> None:
        if chunk is None:
            chunk = max(1, round(recording.sfreq / 10))
        if not isinstance(chunk, int | np.integer) or chunk < 1:
            raise ValueError(f"chunk must be a positive number of samples, got {chunk!r}")
        self.recording = recording
        self.ch_names = list(recording.ch_names)
        self.sfreq = recording.sfreq
        self.chunk = int(chunk)
        self._stamps = recording.t0 + recording.times
        self._pos = 0

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, chunk: int | None = None, **read_kwargs: Any
    ) -> FileSource:
        """Read ``path`` with :func:`read_recording` (keyword arguments passed on) and replay it."""
        return cls(read_recording(path, **read_kwargs), chunk=chunk)

    @property
    def position(self) -> int:
        """Number of samples already returned."""
        return self._pos

    @property
    def exhausted(self) -> bool:
        """True once every sample has been returned."""
        return self._pos >= self.recording.n_samples

    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the next chunk; empty arrays once the recording is exhausted.

        Returns
        -------
        data : ndarray of shape (n, n_channels), float64
            A copy of the next ``n <= chunk`` samples; the caller owns it.
        timestamps : ndarray of shape (n,), float64
            Their timestamps.
        """
        start = self._pos
        stop = min(start + self.chunk, self.recording.n_samples)
        self._pos = stop
        return self.recording.data[start:stop].copy(), self._stamps[start:stop].copy()

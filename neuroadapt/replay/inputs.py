"""What a replay reads: a recording, or a recorded session and what its engine did.

Any file :func:`~neuroadapt.sources.files.read_recording` reads can be replayed.
A recorded session (its folder, or its ``session.xdf``) also tells the replay
when the live engine started the protocol, which commands it applied, when it
was stopped, and where its analysis windows ended (the timestamps of the
``neuroadapt-features`` stream), so the replay can follow it window by window.

Timestamps of a session are read as recorded (pyxdf clock synchronisation, no
dejitter): the live engine saw the raw LSL timestamps, and its features,
control and markers carry them. pyxdf's dejitter would move every sample time
by up to a few milliseconds, enough to put a phase boundary on another window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuroadapt.record.xdf import RecordedStream, load_session_xdf
from neuroadapt.sources.files import RecordingError, read_recording

SESSION_FILE = "session.xdf"
SESSION_PROTOCOL = "protocol.toml"


@dataclass
class RecordedSession:
    """What the live engine published during a recorded session.

    Attributes
    ----------
    features, control : RecordedStream or None
        The ``neuroadapt-features`` and ``neuroadapt-control`` streams.
    markers : list of (float, dict)
        The ``neuroadapt-markers`` stream decoded: LSL time and JSON object.
    folder : Path
        The session folder.
    """

    features: RecordedStream | None
    control: RecordedStream | None
    markers: list[tuple[float, dict]]
    folder: Path

    def first(self, event: str) -> tuple[float, dict] | None:
        """The first marker of an event, or None."""
        return next(((t, m) for t, m in self.markers if m.get("event") == event), None)


@dataclass
class ReplayInput:
    """The samples to replay and, for a recorded session, what happened live.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_channels)
        The EEG channels, µV.
    stamps : ndarray of shape (n_samples,)
        Sample times: LSL times for XDF, seconds from the first sample otherwise.
    sfreq : float
        Nominal sampling rate in Hz.
    ch_names, ch_types : list of str
        Channel labels (normalised 10-20 names) and MNE types.
    file_name : str
        The file's name, without its folder (written into summaries).
    format : str
        The reader's format name (``edf``, ``xdf``, ...).
    label : str
        A short name for default output folders (file stem, or the session
        folder's name, which holds date and protocol but not the subject).
    session : RecordedSession or None
        Set when the input is a recorded neuroadapt session.
    protocol_path : Path or None
        The session's own ``protocol.toml``, when there is one.
    warnings : list of str
        What the reader assumed or tolerated.
    """

    data: np.ndarray
    stamps: np.ndarray
    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    file_name: str
    format: str
    label: str
    session: RecordedSession | None = None
    protocol_path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.sfreq


def _session_xdf(path: Path) -> Path | None:
    """The ``session.xdf`` a path names (the file or its folder), else None."""
    if path.is_dir():
        candidate = path / SESSION_FILE
        if not candidate.is_file():
            raise RecordingError(
                f"{path}: is a folder without {SESSION_FILE} "
                f"(give a recording file or a session folder)"
            )
        return candidate
    return path if path.name == SESSION_FILE else None


def load_raw_session(
    xdf: Path, n_eeg: int, t0_eeg: float
) -> tuple[np.ndarray | None, RecordedSession]:
    """Read a session's engine streams and its EEG sample times as recorded.

    Parameters
    ----------
    xdf : Path
        The ``session.xdf``.
    n_eeg : int
        Number of EEG samples (identifies the EEG stream with ``t0_eeg``).
    t0_eeg : float
        First EEG timestamp as :func:`read_recording` gives it (dejittered).

    Returns
    -------
    eeg_stamps : ndarray of shape (n_eeg,) or None
        The EEG timestamps without dejitter; None if the stream was not found.
    session : RecordedSession
    """
    recorded = load_session_xdf(xdf, dejitter=False)
    eeg = recorded.eeg
    stamps = None
    if eeg is not None and n_eeg and len(eeg.times) == n_eeg and abs(eeg.times[0] - t0_eeg) < 1:
        stamps = eeg.times
    session = RecordedSession(
        features=recorded.features,
        control=recorded.control,
        markers=recorded.marker_events(),
        folder=xdf.parent,
    )
    return stamps, session


def load_input(path: Path, *, stream: str | None = None, profile: str | None = None) -> ReplayInput:
    """Read what to replay.

    Parameters
    ----------
    path : Path
        A recording file, a session folder, or a session's ``session.xdf``.
    stream : str, optional
        XDF only: the EEG stream's name.
    profile : str, optional
        Headset profile naming the channels (see :func:`read_recording`).

    Raises
    ------
    RecordingError
        If the file cannot be read (one line naming it).
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file or folder")
    xdf = _session_xdf(path)
    if xdf is not None and (xdf.parent / "session.json").is_file():
        from neuroadapt.record.session import check_session

        # A running session is refused; one whose supervisor died is marked crashed.
        check_session(xdf.parent)
    rec = read_recording(xdf or path, stream=stream, profile=profile)
    inp = ReplayInput(
        data=rec.data,
        stamps=rec.t0 + rec.times,
        sfreq=rec.sfreq,
        ch_names=list(rec.ch_names),
        ch_types=list(rec.ch_types),
        file_name=rec.path.name,
        format=rec.format,
        label=rec.path.stem,
        warnings=list(rec.warnings),
    )
    if xdf is None:
        return inp
    stamps, session = load_raw_session(xdf, rec.n_samples, rec.t0)
    if session.first("session_start") is None and session.features is None:
        return inp  # an XDF file named session.xdf that neuroadapt did not record
    if stamps is None:
        raise RecordingError(
            f"{xdf}: the EEG stream's timestamps could not be read back without dejitter"
        )
    inp.stamps = stamps
    inp.session = session
    inp.label = xdf.parent.name
    protocol = xdf.parent / SESSION_PROTOCOL
    inp.protocol_path = protocol if protocol.is_file() else None
    return inp


__all__ = ["RecordedSession", "ReplayInput", "load_input", "load_raw_session"]

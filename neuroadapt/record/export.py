"""Export a recorded session to BIDS, FIF or EDF, with its events as annotations.

The EEG comes from ``session.xdf`` (channel names normalised to 10-20 labels,
µV turned into volts as MNE expects); the protocol's markers become MNE
annotations on the same time axis (seconds from the first EEG sample):

==================  ==============================================================
annotation          from
==================  ==============================================================
``phase/<name>``    ``phase_start`` .. ``phase_end`` (duration = the phase)
``reward``          ``reward_start`` .. ``reward_end``
``hold``            ``hold_start`` .. ``hold_end`` (feedback held: artifacts, dropout)
``pause``           ``pause`` .. ``resume``
``quality/<ch>/<level>``  a channel's traffic light changed
``<event>``         every other marker as an instant (``session_start``,
                    ``calibration``, ``threshold``, ``note``, ``gentle_exit``, ...)
==================  ==============================================================

A therapist's note is exported as ``note`` without its text: free text may
name a person, and exports are made to be shared. The text stays in the
session folder and its report.

``bids`` writes a BIDS dataset with mne-bids (EDF data, ``events.tsv`` from
the annotations, ``*_eeg.json`` with the protocol's name, version and SHA-256
and neuroadapt's version); ``fif`` and ``edf`` write one file each. Nothing
existing is overwritten unless asked.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neuroadapt.errors import ConfigError, NeuroadaptError
from neuroadapt.record.session import check_session
from neuroadapt.record.xdf import Session, load_session_xdf

if TYPE_CHECKING:
    import argparse

    import mne

FORMATS = ("bids", "fif", "edf")
# Events with a matching end: start event -> (end event, annotation label).
_SPANS = {
    "reward_start": ("reward_end", "reward"),
    "hold_start": ("hold_end", "hold"),
    "pause": ("resume", "pause"),
}
_SPAN_ENDS = {end for end, _ in _SPANS.values()}


def _progress(text: str) -> None:
    print(f"export: {text}", file=sys.stderr, flush=True)


def bids_label(text: str) -> str:
    """A BIDS entity label: letters and digits only (``S-01_a`` -> ``S01a``)."""
    label = re.sub(r"[^A-Za-z0-9]", "", text)
    if not label:
        raise ConfigError(f"{text!r}: nothing left for a BIDS label (letters and digits only)")
    return label


def annotations_from_markers(
    events: list[tuple[float, dict]], t_ref: float, t_last: float
) -> mne.Annotations:
    """MNE annotations of a session's markers.

    Parameters
    ----------
    events : list of (float, dict)
        Markers as ``(LSL time, decoded JSON)`` (``Session.marker_events()``).
    t_ref : float
        LSL time of the first EEG sample (onset 0).
    t_last : float
        LSL time of the last EEG sample: spans still open end there, and
        markers outside ``[t_ref, t_last]`` are left out (MNE keeps none there).

    Returns
    -------
    mne.Annotations
        Sorted by onset; no ``orig_time`` (relative to the first sample).
    """
    import mne

    onsets: list[float] = []
    durations: list[float] = []
    labels: list[str] = []

    def add(t0: float, t1: float, label: str) -> None:
        if t0 < t_ref - 1e-6 or t0 > t_last:
            return
        onsets.append(max(t0 - t_ref, 0.0))
        durations.append(max(min(t1, t_last) - t0, 0.0))
        labels.append(label)

    open_spans: dict[str, float] = {}
    open_phases: dict[str, float] = {}
    for t, ev in events:
        name = str(ev.get("event", "text"))
        if name == "phase_start":
            open_phases[str(ev.get("phase", ""))] = t
        elif name == "phase_end":
            phase = str(ev.get("phase", ""))
            if phase in open_phases:
                add(open_phases.pop(phase), t, f"phase/{phase}")
        elif name in _SPANS:
            open_spans.setdefault(name, t)
        elif name in _SPAN_ENDS:
            start = next(s for s, (end, _) in _SPANS.items() if end == name)
            if start in open_spans:
                add(open_spans.pop(start), t, _SPANS[start][1])
        elif name == "quality":
            add(t, t, f"quality/{ev.get('channel', '?')}/{ev.get('level', '?')}")
        else:
            add(t, t, name)
    for phase, t0 in open_phases.items():  # a session stopped inside a phase
        add(t0, t_last, f"phase/{phase}")
    for start, t0 in open_spans.items():
        add(t0, t_last, _SPANS[start][1])
    order = np.argsort(onsets, kind="stable")
    return mne.Annotations(
        onset=np.asarray(onsets)[order],
        duration=np.asarray(durations)[order],
        description=[labels[i] for i in order],
    )


def eeg_raw(xdf: Path, session: Session) -> tuple[mne.io.RawArray, float, list[str]]:
    """The EEG as a RawArray in volts, the LSL time of its first sample, and notes.

    ``read_recording`` (units, channel types, normalised names) reads a complete
    file; a file cut short by a crash is read from ``load_session_xdf`` instead,
    taking the EEG stream's samples as µV (neuroadapt's convention for EEG).
    """
    import mne

    from neuroadapt.sources.channels import normalise_channels
    from neuroadapt.sources.files import RecordingError, read_recording

    try:
        rec = read_recording(xdf, stream=session.eeg.name if session.eeg else None)
        return rec.to_raw().set_annotations(None), rec.t0, list(rec.warnings)
    except RecordingError as exc:
        if session.eeg is None or not len(session.eeg.times):
            raise NeuroadaptError(f"{xdf}: no EEG stream to export") from None
        note = f"read without the standard checks ({exc}); EEG taken as µV"
    eeg = session.eeg
    names = normalise_channels(eeg.labels, where=str(xdf))
    info = mne.create_info(names, eeg.sfreq, "eeg")
    raw = mne.io.RawArray(np.asarray(eeg.data, dtype=float).T * 1e-6, info, verbose="error")
    return raw, float(eeg.times[0]), [note]


def _protocol_meta(session_dir: Path, meta: dict) -> dict:
    """Name, version, description, notch and reference of the protocol that ran."""
    proto = dict(meta.get("protocol") or {})
    try:
        doc = tomllib.loads((session_dir / "protocol.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        doc = {}
    section = doc.get("protocol", {})
    signal = doc.get("signal", {})
    return {
        "name": proto.get("name") or section.get("name", "unknown"),
        "version": proto.get("version") or section.get("version", ""),
        "sha256": proto.get("sha256", ""),
        "description": section.get("description", ""),
        "notch": signal.get("notch", 50),
        "reference": signal.get("reference", "none"),
        "phases": [
            {
                "name": p.get("name"),
                "kind": p.get("kind"),
                "instructions": p.get("instructions", ""),
            }
            for p in doc.get("phases", [])
        ],
    }


def load_session_raw(
    session_dir: Path, *, echo: Callable[[str], None] = _progress
) -> tuple[mne.io.RawArray, dict, dict]:
    """The session's EEG with its events as annotations, ``session.json`` and protocol facts.

    Raises
    ------
    NeuroadaptError
        If the folder is not a session, still runs, or holds no readable recording.
    """
    session_dir = Path(session_dir)
    meta = check_session(session_dir)
    xdf = session_dir / "session.xdf"
    if not xdf.is_file():
        raise NeuroadaptError(f"{session_dir}: no session.xdf (nothing was recorded)")
    echo(f"reading {xdf}")
    session = load_session_xdf(xdf)
    raw, t0, notes = eeg_raw(xdf, session)
    for note in notes:
        echo(f"note: {note}")
    t_last = t0 + (raw.n_times - 1) / raw.info["sfreq"]
    raw.set_annotations(annotations_from_markers(session.marker_events(), t0, t_last))
    proto = _protocol_meta(session_dir, meta)
    notch = proto["notch"]
    with raw.info._unlock():
        raw.info["line_freq"] = float(notch) if notch in (50, 60) else None
        raw.info["description"] = (
            f"neuroadapt {meta.get('software', {}).get('neuroadapt', '')} session "
            f"{meta.get('session_id', '')}; protocol {proto['name']} {proto['version']} "
            f"sha256 {proto['sha256']}; ended {meta.get('ended', '')}"
        )
    start = meta.get("start")
    if start:
        try:
            raw.set_meas_date(datetime.fromisoformat(start))
        except ValueError:
            pass
    return raw, meta, proto


def _stem(meta: dict, proto: dict, session_dir: Path) -> tuple[str, str, str]:
    subject = bids_label(str(meta.get("subject") or "unknown"))
    stamp = session_dir.name.split("_", 1)[0]
    session = (
        bids_label(stamp)
        if re.fullmatch(r"\d{8}T\d{6}(-\d+)?", stamp)
        else bids_label(str(meta.get("session_id", "01")).split("-")[0])
    )
    return subject, session, bids_label(proto["name"])


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise NeuroadaptError(f"{path}: exists already; choose another --dest or pass --overwrite")


def export_session(
    session_dir: Path,
    to: str,
    dest: Path,
    *,
    overwrite: bool = False,
    echo: Callable[[str], None] = _progress,
) -> Path:
    """Export one session folder.

    Parameters
    ----------
    session_dir : Path
        The session folder (``session.json``, ``session.xdf``, ``protocol.toml``).
    to : {"bids", "fif", "edf"}
        Target format.
    dest : Path
        Folder to write into (the BIDS root for ``bids``); created if missing.
    overwrite : bool
        Replace files of the same session already there (never anything else).

    Returns
    -------
    Path
        The written data file.

    Raises
    ------
    NeuroadaptError
        For an unknown format, a file that exists already, or an unusable session.
    """
    import mne

    if to not in FORMATS:
        raise ConfigError(f"--to {to!r}: choose one of {', '.join(FORMATS)}")
    session_dir = Path(session_dir)
    dest = Path(dest)
    raw, meta, proto = load_session_raw(session_dir, echo=echo)
    subject, ses, task = _stem(meta, proto, session_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeuroadaptError(f"--dest {dest}: cannot create ({exc.strerror})") from None
    stem = f"sub-{subject}_ses-{ses}_task-{task}_eeg"
    with mne.utils.use_log_level("error"):
        if to == "fif":
            out = dest / f"{stem}.fif"
            _refuse_existing(out, overwrite)
            echo(f"writing {out}")
            raw.save(out, fmt="double", overwrite=overwrite)
        elif to == "edf":
            out = dest / f"{stem}.edf"
            _refuse_existing(out, overwrite)
            echo(f"writing {out}")
            mne.export.export_raw(out, raw, fmt="edf", overwrite=overwrite)
        else:
            out = _write_bids(raw, meta, proto, dest, subject, ses, task, overwrite, echo)
    echo(f"done: {out}")
    return out


def _write_bids(
    raw: mne.io.RawArray,
    meta: dict,
    proto: dict,
    root: Path,
    subject: str,
    ses: str,
    task: str,
    overwrite: bool,
    echo: Callable[[str], None],
) -> Path:
    from mne_bids import BIDSPath, make_dataset_description, update_sidecar_json, write_raw_bids

    bids_path = BIDSPath(subject=subject, session=ses, task=task, datatype="eeg", root=root)
    existing = (
        sorted(bids_path.directory.glob(f"{bids_path.basename}*"))
        if bids_path.directory.is_dir()
        else []
    )
    if existing and not overwrite:
        raise NeuroadaptError(
            f"{existing[0]}: exists already; choose another --dest or pass --overwrite"
        )
    echo(f"writing BIDS {bids_path.basename} under {root}")
    version = meta.get("software", {}).get("neuroadapt", "")
    if not (root / "dataset_description.json").exists():
        make_dataset_description(
            path=root,
            name="neuroadapt sessions",
            dataset_type="raw",
            generated_by=[
                {
                    "Name": "neuroadapt",
                    "Version": version,
                    "Description": "neuro-adaptive VR therapy engine",
                }
            ],
        )
    raw.info["subject_info"] = None
    raw.info["experimenter"] = None
    written = write_raw_bids(
        raw, bids_path, format="EDF", allow_preload=True, overwrite=overwrite, verbose="error"
    )
    sidecar = written.copy().update(suffix="eeg", extension=".json")
    update_sidecar_json(
        sidecar,
        {
            "TaskName": task,
            "TaskDescription": proto["description"],
            "Instructions": " | ".join(
                f"{p['name']}: {p['instructions']}"
                for p in proto["phases"]
                if p.get("instructions")
            ),
            "EEGReference": "n/a (the headset's own reference; protocol re-reference: "
            f"{json.dumps(proto['reference'])})",
            "SoftwareFilters": "n/a",
            "SoftwareVersions": f"neuroadapt {version}",
            "RecordingType": "continuous",
            "NeuroadaptProtocol": {
                "name": proto["name"],
                "version": proto["version"],
                "sha256": proto["sha256"],
            },
            "NeuroadaptSession": {
                "session_id": meta.get("session_id", ""),
                "ended": meta.get("ended", ""),
                "software": meta.get("software", {}),
            },
        },
        verbose="error",
    )
    return written.fpath


# -- command line ---------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    export_session(args.session, args.to, args.dest, overwrite=args.overwrite)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a recorded session to BIDS, FIF or EDF",
        description="Export a session folder's EEG with its protocol events as "
        "annotations: 'bids' (mne-bids, EDF data, events.tsv, "
        "sidecars with the protocol's name, version and SHA-256), "
        "'fif' or 'edf' (one file). A session whose supervisor died "
        "is marked crashed first; a running session is refused.",
    )
    p.add_argument("session", type=Path, metavar="SESSION", help="session folder")
    p.add_argument("--to", required=True, choices=FORMATS, help="target format")
    p.add_argument(
        "--dest", required=True, type=Path, help="folder to write into (the BIDS root for 'bids')"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace this session's files in --dest (default: refuse)",
    )
    p.set_defaults(func=cmd_export)


__all__ = [
    "FORMATS",
    "add_parser",
    "annotations_from_markers",
    "bids_label",
    "eeg_raw",
    "export_session",
    "load_session_raw",
]

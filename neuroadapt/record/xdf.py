"""Reading a recorded session back from ``session.xdf`` with pyxdf.

A session whose recorder was killed (no stream footers) or whose file was cut
(a full disk, an interrupted copy) still loads: :mod:`neuroadapt.record.xdfio`
keeps every whole chunk, and :attr:`Session.notes` says what was lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuroadapt.errors import NeuroadaptError
from neuroadapt.lsl import STREAM_CONTROL, STREAM_FEATURES, STREAM_MARKERS, STREAM_SCENE
from neuroadapt.record.xdfio import load_xdf_robust


@dataclass
class RecordedStream:
    """One stream of a recording: labels, samples and their LSL times."""

    name: str
    type: str
    source_id: str
    labels: list[str]
    sfreq: float
    data: np.ndarray | list  # (n_samples, n_channels), or a list of strings for markers
    times: np.ndarray  # (n_samples,)

    def column(self, label: str) -> np.ndarray:
        return np.asarray(self.data)[:, self.labels.index(label)]


@dataclass
class Session:
    """The streams of one recorded session, by role.

    ``notes`` says, one line each, what a cut or unfinished file lost (empty for
    a whole file).
    """

    eeg: RecordedStream | None
    features: RecordedStream | None
    control: RecordedStream | None
    markers: RecordedStream | None
    scene: RecordedStream | None
    notes: list[str] = field(default_factory=list)

    def marker_events(self) -> list[tuple[float, dict]]:
        """Markers as ``(time, decoded JSON)``; non-JSON markers become ``{"text": ...}``."""
        if self.markers is None:
            return []
        out = []
        for t, row in zip(self.markers.times, self.markers.data, strict=True):
            text = row[0] if isinstance(row, list | tuple) else row
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = None
            if not isinstance(event, dict):  # another tool's plain-text marker
                event = {"event": "text", "text": text}
            out.append((float(t), event))
        return out

    def phases(self) -> list[tuple[str, str, float, float]]:
        """``(name, kind, start, end)`` of every phase that started."""
        starts: dict[str, tuple[str, float]] = {}
        out = []
        last_t = None
        for t, ev in self.marker_events():
            last_t = t
            if ev.get("event") == "phase_start":
                starts[ev["phase"]] = (ev.get("kind", ""), t)
            elif ev.get("event") == "phase_end" and ev.get("phase") in starts:
                kind, t0 = starts.pop(ev["phase"])
                out.append((ev["phase"], kind, t0, t))
        for name, (kind, t0) in starts.items():  # stopped before its end
            out.append((name, kind, t0, last_t if last_t is not None else t0))
        return sorted(out, key=lambda p: p[2])


def _labels(info: dict, n: int) -> list[str]:
    try:
        chans = info["desc"][0]["channels"][0]["channel"]
        labels = [c["label"][0] for c in chans]
        if len(labels) == n:
            return labels
    except (KeyError, IndexError, TypeError):
        pass
    return [f"ch{i + 1}" for i in range(n)]


def load_session_xdf(path: Path, *, dejitter: bool = True) -> Session:
    """Load ``session.xdf`` and sort its streams by role.

    A cut or unfinished file is read up to its last whole chunk; ``Session.notes``
    says what was lost. Timestamps are clock-synchronised; ``dejitter=False``
    keeps them otherwise as recorded (what the live engine saw).

    Raises
    ------
    NeuroadaptError
        If nothing usable can be read (not XDF, cut inside its first stream header).
    """
    try:
        streams, _, notes = load_xdf_robust(path, dejitter_timestamps=dejitter)
    except NeuroadaptError:
        raise
    except Exception as exc:  # a bug in a reader must still name the file
        raise NeuroadaptError(f"{path}: cannot read the recording ({exc})") from None
    found: dict[str, RecordedStream] = {}
    for s in streams:
        info = s["info"]
        n = int(info["channel_count"][0])
        rs = RecordedStream(
            name=info["name"][0],
            type=info["type"][0],
            source_id=(info.get("source_id") or [""])[0] or "",
            labels=_labels(info, n),
            sfreq=float(info["nominal_srate"][0]),
            data=s["time_series"],
            times=np.asarray(s["time_stamps"], dtype=float),
        )
        if rs.name in (STREAM_FEATURES, STREAM_CONTROL, STREAM_MARKERS, STREAM_SCENE):
            found[rs.name] = rs
        elif rs.type.upper() == "EEG" and "eeg" not in found:
            found["eeg"] = rs
    return Session(
        found.get("eeg"),
        found.get(STREAM_FEATURES),
        found.get(STREAM_CONTROL),
        found.get(STREAM_MARKERS),
        found.get(STREAM_SCENE),
        notes=list(notes),
    )

"""Session tables: features, control and markers as tab-separated files.

One format for what a session produced, whether it was recorded live
(``session.xdf``) or computed by offline replay, so reports and comparisons
read both the same way:

``features.tsv``
    ``time``, one column per protocol feature, ``valid`` (1 when the window
    may drive feedback), ``artifacts`` (comma-separated detector names).
``control.tsv``
    ``time``, ``phase``, ``phase_kind``, ``phase_index``, ``feedback``,
    ``hold``, ``reward``, then one column per mapped scene parameter.
``markers.tsv``
    ``time``, ``event``, ``data`` (the rest of the marker as compact JSON).

``time`` is seconds from the recording's first EEG sample. Missing values are
``n/a`` (the BIDS convention). Floats are written with :func:`repr`, the
shortest text that reads back to the same number, so two runs that compute
the same numbers write byte-identical files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from neuroadapt.errors import NeuroadaptError

if TYPE_CHECKING:
    from neuroadapt.record.xdf import Session

NA = "n/a"
CONTROL_FIXED = ("phase", "phase_kind", "phase_index", "feedback", "hold", "reward")
FILES = {"features": "features.tsv", "control": "control.tsv", "markers": "markers.tsv"}


def format_value(value: object) -> str:
    """Text of one cell: ``repr`` for floats, ``n/a`` for NaN/None, 0/1 for bools."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return NA if not math.isfinite(value) else repr(value)
    text = str(value)
    if "\t" in text or "\n" in text:
        raise ValueError(f"a table cell cannot hold tabs or newlines: {text!r}")
    return text


def parse_value(text: str) -> float | str | None:
    """Inverse of :func:`format_value` for numbers; other text is returned as is."""
    if text == NA:
        return None
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class Table:
    """Named columns of equal length.

    Attributes
    ----------
    columns : list of str
        Column names; the first is ``time``.
    rows : list of list
        One list of cell values per row, in column order.
    """

    columns: list[str]
    rows: list[list] = field(default_factory=list)

    def append(self, row: Sequence) -> None:
        if len(row) != len(self.columns):
            raise ValueError(f"row has {len(row)} cells for {len(self.columns)} columns")
        self.rows.append(list(row))

    def column(self, name: str) -> list:
        """All values of one column (KeyError naming the column if absent)."""
        try:
            i = self.columns.index(name)
        except ValueError:
            raise KeyError(f"no column {name!r} (columns: {', '.join(self.columns)})") from None
        return [r[i] for r in self.rows]

    def floats(self, name: str) -> list[float]:
        """A numeric column with missing values as NaN."""
        return [math.nan if v is None or v == NA else float(v) for v in self.column(name)]

    def __len__(self) -> int:
        return len(self.rows)

    def write(self, path: Path) -> Path:
        """Write as TSV (header line, ``\\n`` line ends, UTF-8)."""
        lines = ["\t".join(self.columns)]
        lines += ["\t".join(format_value(v) for v in row) for row in self.rows]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> Table:
        """Read a TSV written by :meth:`write` (numbers parsed, ``n/a`` as None).

        Raises
        ------
        NeuroadaptError
            If the file is missing or a row has the wrong number of cells.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise NeuroadaptError(f"{path}: cannot read ({exc.strerror})") from None
        lines = text.splitlines()
        if not lines:
            raise NeuroadaptError(f"{path}: empty table (no header line)")
        columns = lines[0].split("\t")
        table = cls(columns)
        for n, line in enumerate(lines[1:], start=2):
            cells = line.split("\t")
            if len(cells) != len(columns):
                raise NeuroadaptError(f"{path}:{n}: {len(cells)} cells for {len(columns)} columns")
            table.rows.append([parse_value(c) for c in cells])
        return table


@dataclass
class SessionTables:
    """Features, control and markers of one session or replay."""

    features: Table
    control: Table
    markers: Table

    @classmethod
    def empty(cls, feature_names: Sequence[str], param_names: Sequence[str]) -> SessionTables:
        return cls(
            Table(["time", *feature_names, "valid", "artifacts"]),
            Table(["time", *CONTROL_FIXED, *param_names]),
            Table(["time", "event", "data"]),
        )

    @property
    def feature_names(self) -> list[str]:
        return self.features.columns[1:-2]

    @property
    def param_names(self) -> list[str]:
        return self.control.columns[1 + len(CONTROL_FIXED) :]

    def add_marker(self, time: float, marker_json: str | dict) -> None:
        """Add a marker given as its LSL JSON string (or decoded dict)."""
        ev = json.loads(marker_json) if isinstance(marker_json, str) else dict(marker_json)
        event = str(ev.pop("event", "text"))
        self.markers.append([time, event, json.dumps(ev, sort_keys=True, separators=(",", ":"))])

    def marker_events(self) -> list[tuple[float, dict]]:
        """Markers as ``(time, {"event": ..., **data})``."""
        out = []
        for t, event, data in self.markers.rows:
            payload = json.loads(data) if isinstance(data, str) and data != NA else {}
            out.append((float(t), {"event": event, **payload}))
        return out

    def write(self, folder: Path) -> dict[str, Path]:
        """Write the three TSV files into ``folder``; returns their paths."""
        folder = Path(folder)
        return {key: getattr(self, key).write(folder / name) for key, name in FILES.items()}

    @classmethod
    def read(cls, folder: Path) -> SessionTables:
        """Read the three TSV files of a folder (data column of markers kept as text)."""
        folder = Path(folder)
        tables = {key: Table.read(folder / name) for key, name in FILES.items()}
        markers = tables["markers"]
        i = markers.columns.index("data") if "data" in markers.columns else None
        raw = (folder / FILES["markers"]).read_text(encoding="utf-8").splitlines()[1:]
        if i is not None:  # JSON must stay text even when it looks like a number
            for row, line in zip(markers.rows, raw, strict=True):
                row[i] = line.split("\t")[i]
        return cls(tables["features"], tables["control"], markers)


def _hold_detectors(reason: str) -> str:
    """``"blink: Fp1, Fz; emg: O1"`` -> ``"blink,emg"`` (a dropout names no detector)."""
    names = [part.split(":", 1)[0].strip() for part in reason.split(";") if ":" in part]
    return ",".join(n for n in names if n)


def _intervals(events: list[tuple[float, dict]], start: str, end: str) -> list[tuple[float, float]]:
    """``[start, end)`` spans between paired events (an open one runs to infinity)."""
    out: list[tuple[float, float]] = []
    t_open: float | None = None
    for t, ev in events:
        if ev.get("event") == start and t_open is None:
            t_open = t
        elif ev.get("event") == end and t_open is not None:
            out.append((t_open, t))
            t_open = None
    if t_open is not None:
        out.append((t_open, math.inf))
    return out


def from_session(session: Session, t_ref: float | None = None) -> SessionTables:
    """The tables of a recorded session (``session.xdf`` read by ``load_session_xdf``).

    Parameters
    ----------
    session : Session
        The recorded streams.
    t_ref : float, optional
        LSL time that becomes ``time = 0``; by default the first EEG sample
        (the first sample of any stream when there is no EEG).

    Returns
    -------
    SessionTables
        ``phase`` and ``phase_kind`` of each control row come from the
        ``phase_start`` markers (``waiting`` before the first, ``end`` after
        the last ``phase_end``); ``reward`` is 1 between ``reward_start`` and
        ``reward_end``; a feature row is ``valid`` unless the control row of
        the same window holds, and its ``artifacts`` are the detectors named
        by the ``hold_start`` marker of that hold.
    """
    import numpy as np

    if t_ref is None:
        starts = [
            float(s.times[0])
            for s in (session.eeg, session.features, session.control, session.markers)
            if s is not None and len(s.times)
        ]
        t_ref = (
            float(session.eeg.times[0])
            if session.eeg is not None and len(session.eeg.times)
            else min(starts, default=0.0)
        )
    events = session.marker_events()
    ctl = session.control
    params = (
        [lb for lb in ctl.labels if lb not in ("feedback", "hold", "phase_index")]
        if ctl is not None
        else []
    )
    feature_names = list(session.features.labels) if session.features is not None else []
    tables = SessionTables.empty(feature_names, params)
    for t, ev in events:
        tables.add_marker(t - t_ref, ev)

    phase_starts = [(t, ev) for t, ev in events if ev.get("event") == "phase_start"]
    phase_ends = [t for t, ev in events if ev.get("event") == "phase_end"]
    last_end = max(phase_ends, default=math.inf)
    rewards = _intervals(events, "reward_start", "reward_end")
    holds = [
        (t, _hold_detectors(str(ev.get("reason", ""))))
        for t, ev in events
        if ev.get("event") == "hold_start"
    ]

    # Each stream is dejittered on its own, so the same window's time differs
    # by microseconds between streams: match within this tolerance.
    tol = 0.005
    by_index = {int(ev.get("index", -1)): ev for _, ev in phase_starts}

    def phase_at(t: float, index: int | None) -> tuple[str, str, int]:
        if not phase_starts or t < phase_starts[0][0] - tol:
            return "waiting", "waiting", -1
        if len(phase_ends) >= len(phase_starts) and t > last_end + tol:
            return "end", "end", -1
        current = by_index.get(index) if index is not None else None
        if current is None:
            current = [ev for ts, ev in phase_starts if ts <= t + tol][-1]
        return (
            str(current.get("phase", "")),
            str(current.get("kind", "")),
            int(current.get("index", -1)),
        )

    ctl_times = np.zeros(0)
    ctl_hold = np.zeros(0, dtype=bool)
    if ctl is not None and len(ctl.times):
        data = np.asarray(ctl.data, dtype=float)
        cols = {lb: i for i, lb in enumerate(ctl.labels)}
        ctl_times = np.asarray(ctl.times, dtype=float)
        ctl_hold = (
            data[:, cols["hold"]] > 0.5 if "hold" in cols else np.zeros(len(data), dtype=bool)
        )
        for row, t, held in zip(data, ctl_times, ctl_hold, strict=True):
            t = float(t)
            index = None
            if "phase_index" in cols and math.isfinite(row[cols["phase_index"]]):
                index = int(row[cols["phase_index"]])
            name, kind, index = phase_at(t, index)
            reward = any(a - tol <= t < b - tol for a, b in rewards)
            feedback = bool(row[cols["feedback"]]) if "feedback" in cols else False
            tables.control.append(
                [
                    t - t_ref,
                    name,
                    kind,
                    index,
                    feedback,
                    bool(held),
                    reward,
                    *(float(row[cols[p]]) for p in params),
                ]
            )
    feats = session.features
    if feats is not None and len(feats.times):
        data = np.asarray(feats.data, dtype=float)
        for row, t in zip(data, feats.times, strict=True):
            t = float(t)
            held = False
            if len(ctl_times):
                i = int(np.argmin(np.abs(ctl_times - t)))
                held = bool(ctl_hold[i]) and abs(ctl_times[i] - t) <= tol
            reasons = [r for ts, r in holds if ts <= t + tol]
            artifacts = reasons[-1] if held and reasons else ""
            tables.features.append([t - t_ref, *(float(v) for v in row), not held, artifacts])
    return tables


__all__ = [
    "CONTROL_FIXED",
    "FILES",
    "NA",
    "SessionTables",
    "Table",
    "format_value",
    "from_session",
    "parse_value",
]

"""Sham feedback: another session's control trace, read from a TSV or XDF file.

Blinded studies show some patients the feedback of someone else's session.
The trace is read here (I/O); :class:`~neuroadapt.protocol.engine.ProtocolEngine`
replays it by time since the start of the protocol, which with the same
protocol and seed is the same phase and the same time within it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroadapt.errors import ProtocolError
from neuroadapt.protocol.schema import REWARD


@dataclass(frozen=True)
class ShamTrace:
    """The control trace of another session, replayed by time since the start.

    Attributes
    ----------
    times : array of shape (n_rows,)
        Seconds since that session's protocol started, increasing.
    params : dict of str to array of shape (n_rows,)
        Scene parameter values.
    reward : array of shape (n_rows,) or None
        Reward shown (0 or 1), when the trace has it.
    source : str
        Where the trace came from (recorded in markers).
    """

    times: np.ndarray
    params: dict[str, np.ndarray]
    reward: np.ndarray | None = None
    source: str = ""

    def at(self, elapsed: float) -> int:
        """Row in force ``elapsed`` seconds after the start (zero-order hold)."""
        return max(int(np.searchsorted(self.times, elapsed, side="right")) - 1, 0)


def sham_from_table(
    times: Sequence[float], columns: Mapping[str, Sequence[float]], source: str = ""
) -> ShamTrace:
    """A :class:`ShamTrace` from a time column (s since the start) and value columns."""
    t = np.asarray(times, dtype=float)
    order = np.argsort(t, kind="stable")
    cols = {k: np.asarray(v, dtype=float)[order] for k, v in columns.items()}
    reward = cols.pop(REWARD, None)
    return ShamTrace(t[order], cols, reward, source)


def load_sham(path: str | Path, parameters: Sequence[str], where: str = "sham.source") -> ShamTrace:
    """Read a control trace for sham feedback.

    Parameters
    ----------
    path : str or Path
        A TSV file with a ``time`` column (seconds since the start of the
        protocol) and one column per scene parameter (optionally ``reward``),
        or a ``session.xdf`` recorded by neuroadapt (its control stream, timed
        from the ``session_start`` marker).
    parameters : sequence of str
        The mapped parameters; each must be in the trace.
    where : str
        Field path for error messages.

    Raises
    ------
    ProtocolError
        One line: the file is missing, unreadable, or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{where}: no such file {str(path)!r}")
    if path.suffix.lower() == ".xdf":
        times, cols = _read_xdf(path, where)
    else:
        times, cols = _read_tsv(path, where)
    missing = [p for p in parameters if p not in cols]
    if missing:
        raise ProtocolError(
            f"{where}: {path.name} has no column for {', '.join(missing)}; "
            f"it has {', '.join(cols) or 'none'}"
        )
    keep = {k: v for k, v in cols.items() if k in parameters or k == REWARD}
    return sham_from_table(times, keep, str(path))


def _read_tsv(path: Path, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{where}: cannot read {path.name} ({exc})") from None
    if not rows or "time" not in rows[0]:
        raise ProtocolError(f"{where}: {path.name} needs a header row with a 'time' column")
    header = rows[0]
    try:
        data = np.array([[float(x) for x in r] for r in rows[1:] if r], dtype=float)
    except ValueError as exc:
        raise ProtocolError(f"{where}: {path.name}: not a number ({exc})") from None
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != len(header):
        raise ProtocolError(f"{where}: {path.name} has no complete data rows")
    cols = {name: data[:, i] for i, name in enumerate(header)}
    return cols.pop("time"), cols


def _read_xdf(path: Path, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from neuroadapt.record.xdf import load_session_xdf

    try:
        session = load_session_xdf(path)
    except Exception as exc:  # pyxdf raises many types for a damaged file
        raise ProtocolError(f"{where}: cannot read {path.name} ({exc})") from None
    ctl = session.control
    if ctl is None or len(ctl.times) == 0:
        raise ProtocolError(f"{where}: {path.name} has no control stream")
    t0 = float(ctl.times[0])
    times = np.asarray(ctl.times, dtype=float)
    reward = np.zeros(len(times))
    onset: float | None = None
    markers = session.markers
    for text, t in zip(
        markers.data if markers else [], markers.times if markers else [], strict=False
    ):
        raw = text[0] if isinstance(text, list | tuple) else text
        try:
            marker = json.loads(raw)
            event = marker.get("event")
        except (ValueError, AttributeError):
            continue
        if event == "session_start":
            t0 = float(t)
        elif event == "reward_start" and marker.get("feedback"):
            onset = float(t)  # only rewards the patient saw
        elif event == "reward_end" and onset is not None:
            reward[(times >= onset) & (times < float(t))] = 1.0
            onset = None
    data = np.asarray(ctl.data, dtype=float)
    cols = {label: data[:, i] for i, label in enumerate(ctl.labels)}
    cols[REWARD] = reward
    return times - t0, cols

"""Offline replay: a recording through the live engine's own :class:`Pipeline`.

No sockets, no clock, no scene: the samples are pushed as fast as the machine
allows and every window's features, control and markers go into
:class:`~neuroadapt.record.tables.SessionTables`. The same samples give the
same tables, byte for byte.

Following a recorded session
----------------------------
The live engine's window grid starts at the first sample it received, which
is earlier than the recording's first sample, and its protocol starts when the
supervisor says so. To reproduce it:

- the replay drops the first ``k`` samples so that its window ends fall on
  the samples where the live windows ended (the timestamps of the recorded
  ``neuroadapt-features`` stream are the newest sample of each window);
- the protocol starts before the window whose time is nearest the recorded
  ``session_start`` marker (within half a hop); recorded ``pause``,
  ``resume`` and ``difficulty`` commands and stalls are scheduled at their
  recorded times by :meth:`Pipeline.apply_recorded`;
- a session that was stopped is stopped at the same window.

The live filters started before the recording did, so features differ during
the first seconds of the recording (the high-pass and notch settle within
about a second); the supervisor's signal check keeps the protocol start
several seconds later, and comparisons begin there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from neuroadapt.pipeline import Pipeline, Step
from neuroadapt.protocol import LoadedProtocol
from neuroadapt.record.tables import SessionTables
from neuroadapt.replay.inputs import RecordedSession, ReplayInput

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Action:
    """Something done before a window is computed (or after it, for ``stop``).

    Attributes
    ----------
    window : int
        Index of the window on the replay's grid.
    kind : str
        ``start``, ``stop`` or a command name.
    data : dict
        Command arguments.
    """

    window: int
    kind: str
    data: dict = field(default_factory=dict)


@dataclass
class ReplayResult:
    """What a replay produced.

    Attributes
    ----------
    tables : SessionTables
        Features (every window), control (every window after the start) and
        markers; times in seconds from the recording's first sample.
    n_windows : int
        Windows computed.
    skipped : int
        Samples dropped at the start to align the window grid with the live one.
    start : float or None
        Protocol start, seconds from the first sample (None if it never started).
    ended : str
        ``completed``, ``stopped`` (as the recorded session was) or
        ``end of recording``.
    processing_s : float
        Wall time spent pushing samples (not deterministic; kept out of the tables).
    notes : list of str
        Recorded events that could not be followed, one line each.
    """

    tables: SessionTables
    n_windows: int
    skipped: int
    start: float | None
    ended: str
    processing_s: float
    notes: list[str] = field(default_factory=list)


def grid_ends(n_samples: int, n_window: int, n_hop: int, skip: int = 0) -> np.ndarray:
    """Sample index of the newest sample of each window when ``skip`` samples are dropped."""
    first = skip + n_window - 1
    if first >= n_samples:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, n_samples, n_hop, dtype=np.int64)


def nearest_window(times: np.ndarray, t: float, tolerance: float) -> int | None:
    """Index of the window time nearest ``t``, or None if none is within ``tolerance``."""
    if not len(times):
        return None
    i = int(np.searchsorted(times, t))
    best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t))
    return best if abs(times[best] - t) <= tolerance else None


def align_skip(
    stamps: np.ndarray, live_times: np.ndarray, n_window: int, n_hop: int, sfreq: float
) -> int:
    """Samples to drop so the replay's windows end where the live engine's did.

    Parameters
    ----------
    stamps : ndarray of shape (n_samples,)
        The recording's sample times (as recorded).
    live_times : ndarray of shape (n_windows,)
        The live windows' times (newest sample of each window).
    n_window, n_hop : int
        Window and hop in samples.
    sfreq : float
        Sampling rate, for the matching tolerance (half a sample period).

    Returns
    -------
    skip : int
        In ``0 .. n_hop - 1``; 0 when no live window can be placed.
    """
    half = 0.5 / sfreq
    for t in live_times:
        j = int(np.searchsorted(stamps, t))
        cands = [i for i in (j - 1, j) if 0 <= i < len(stamps)]
        if not cands:
            continue
        i = min(cands, key=lambda c: abs(stamps[c] - t))
        if abs(stamps[i] - t) <= half and i >= n_window - 1:
            return (i - (n_window - 1)) % n_hop
    return 0


def session_actions(
    session: RecordedSession, window_times: np.ndarray, hop: float
) -> tuple[list[Action], list[str]]:
    """Start and stop of a recorded session, placed on the replay's windows.

    Recorded marker times are the newest sample of the window the live engine
    acted at; each is matched to the nearest replay window within half a hop
    (pyxdf's clock synchronisation moves streams by microseconds). Commands
    are scheduled by :meth:`Pipeline.apply_recorded` itself.

    Returns
    -------
    actions : list of Action
        In window order.
    notes : list of str
        Events that could not be placed, one line each.
    """
    actions: list[Action] = []
    notes: list[str] = []
    tol = hop / 2
    start = session.first("session_start")
    if start is None:
        notes.append(
            "the recorded session never started its protocol; replaying from the first window"
        )
        return [Action(0, "start")], notes
    w0 = nearest_window(window_times, start[0], tol)
    if w0 is None:
        where = "before" if len(window_times) and start[0] < window_times[0] else "after"
        notes.append(
            f"the recorded protocol start is {where} the replay's first window "
            f"(less than one window of signal before it); starting at the first window"
        )
        w0 = 0
    actions.append(Action(w0, "start"))
    end = session.first("session_end")
    if end is not None and end[1].get("reason") not in (None, "completed"):
        w = nearest_window(window_times, end[0], tol)
        if w is not None:
            actions.append(Action(w, "stop", {"reason": end[1].get("reason")}))
    actions.sort(key=lambda a: (a.window, a.kind == "stop"))
    return actions, notes


class Replay:
    """Pushes one input through one protocol's :class:`Pipeline` into tables.

    Parameters
    ----------
    loaded : LoadedProtocol
        The protocol.
    inp : ReplayInput
        The samples (and, for a recorded session, what happened live).
    follow_session : bool
        For a recorded session: align the window grid, start, commands and stop
        as the live engine did. Otherwise the protocol starts at the first window.

    Raises
    ------
    ProtocolError
        If the recording lacks a channel the protocol needs or a band is above
        its Nyquist frequency.
    """

    def __init__(
        self, loaded: LoadedProtocol, inp: ReplayInput, *, follow_session: bool = True
    ) -> None:
        self.loaded = loaded
        self.inp = inp
        self.pipeline = Pipeline(
            loaded, inp.sfreq, inp.ch_names, inp.file_name, ch_types=inp.ch_types
        )
        sig = loaded.protocol.signal
        ext = self.pipeline.extractor
        self.n_window, self.n_hop = ext.n_window, ext.n_hop
        self.hop = float(sig.hop)
        self.hold_on = frozenset(loaded.protocol.artifacts.hold_on)
        self.t_first = float(inp.stamps[0]) if len(inp.stamps) else 0.0
        session = inp.session if follow_session else None
        self.skip = 0
        if session is not None and session.features is not None:
            self.skip = align_skip(
                inp.stamps, session.features.times, self.n_window, self.n_hop, inp.sfreq
            )
        self.ends = grid_ends(len(inp.stamps), self.n_window, self.n_hop, self.skip)
        self.notes: list[str] = []
        if session is not None:
            self.actions, self.notes = session_actions(session, inp.stamps[self.ends], self.hop)
            apply_recorded = getattr(self.pipeline, "apply_recorded", None)
            if apply_recorded is not None:
                apply_recorded(session.markers)
            elif any(
                m.get("event") in ("pause", "resume", "difficulty") for _, m in session.markers
            ):
                self.notes.append(
                    "recorded commands not applied: this version's Pipeline cannot replay them"
                )
        else:
            self.actions = [Action(0, "start")]
        self._feature_names = self.pipeline.protocol.feature_names
        self._param_names = self.pipeline.protocol.param_names
        self.tables = SessionTables.empty(self._feature_names, self._param_names)

    # -- rows ----------------------------------------------------------------------------
    def _record(self, step: Step) -> None:
        frame, ctl = step.frame, step.control
        t = frame.t - self.t_first
        flags = frame.flags
        valid = frame.finite and not any(f in self.hold_on for f in flags)
        values = frame.values
        self.tables.features.append(
            [t, *[float(values[n]) for n in self._feature_names], valid, ",".join(flags)]
        )
        if ctl is not None:
            # reward: the rule's state, as the reward_start/reward_end markers say
            # (what the scene showed differs only under sham or with feedback off).
            # The window that ends the protocol is "end" with index -1, as in the
            # tables of a live recording (record.tables.from_session).
            phase = (
                ("end", "end", -1)
                if ctl.phase == "end"
                else (ctl.phase, ctl.phase_kind, ctl.phase_index)
            )
            params = ctl.params
            self.tables.control.append(
                [
                    t,
                    *phase,
                    ctl.feedback,
                    ctl.hold,
                    ctl.reward_rule,
                    *[float(params[p]) for p in self._param_names],
                ]
            )
        for m in step.markers:
            self.tables.add_marker(m.t - self.t_first, m.to_json())

    def _apply(self, action: Action) -> None:
        if action.kind == "start" and not (self.pipeline.started or self.pipeline.start_requested):
            self.pipeline.request_start()

    # -- run -----------------------------------------------------------------------------
    def run(self, progress: ProgressFn | None = None, chunk_seconds: float = 10.0) -> ReplayResult:
        """Replay every sample (or until the protocol ends or the session was stopped).

        Samples are pushed ``chunk_seconds`` at a time, rounded up to whole
        batches of the feature extractor (:attr:`FeatureExtractor.batch_samples`);
        ``progress(done, total)`` is called after each chunk.
        """
        data, stamps = self.inp.data, self.inp.stamps
        n = len(stamps)
        # Whole pieces of the extractor's batches: it computes their windows together.
        piece = self.pipeline.extractor.batch_samples
        chunk = max(1, -(-int(chunk_seconds * self.inp.sfreq) // piece)) * piece
        # Sample boundaries where something must happen: an action before window w
        # is applied once the samples before that window's newest sample are in.
        stops: list[tuple[int, Action]] = []
        for a in self.actions:
            if a.window < len(self.ends):
                at = int(self.ends[a.window]) + (1 if a.kind == "stop" else 0)
                stops.append((at, a))
        pos, n_windows, ended = self.skip, 0, "end of recording"
        begin = time.perf_counter()
        i_stop = 0
        while pos < n and not self.pipeline.finished:
            while i_stop < len(stops) and stops[i_stop][0] <= pos:
                action = stops[i_stop][1]
                i_stop += 1
                if action.kind == "stop":
                    ended = "stopped"
                    break
                self._apply(action)
            if ended == "stopped":
                break
            nxt = min(n, pos + chunk, stops[i_stop][0] if i_stop < len(stops) else n)
            for step in self.pipeline.push(data[pos:nxt], stamps[pos:nxt]):
                self._record(step)
                n_windows += 1
            pos = nxt
            if progress is not None:
                progress(pos, n)
        if self.pipeline.finished:
            ended = "completed"
        elif self.pipeline.started:
            reason = "stopped" if ended == "stopped" else "end of recording"
            t = self.pipeline.last_t if self.pipeline.last_t is not None else stamps[pos - 1]
            for m in self.pipeline.protocol.pop_markers():
                self.tables.add_marker(m.t - self.t_first, m.to_json())
            self.tables.add_marker(
                float(t) - self.t_first, {"event": "session_end", "reason": reason}
            )
        elapsed = time.perf_counter() - begin
        t0 = self.pipeline.protocol.t0
        return ReplayResult(
            self.tables,
            n_windows,
            self.skip,
            None if t0 is None else t0 - self.t_first,
            ended,
            elapsed,
            list(self.notes),
        )


def replay(
    loaded: LoadedProtocol,
    inp: ReplayInput,
    *,
    follow_session: bool = True,
    progress: ProgressFn | None = None,
) -> ReplayResult:
    """Replay ``inp`` through ``loaded``; see :class:`Replay`."""
    return Replay(loaded, inp, follow_session=follow_session).run(progress)


__all__ = [
    "Action",
    "Replay",
    "ReplayResult",
    "align_skip",
    "grid_ends",
    "nearest_window",
    "replay",
    "session_actions",
]

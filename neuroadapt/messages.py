"""The messages between neuroadapt's processes: one definition of each shape.

Markers travel on the ``neuroadapt-markers`` LSL stream; control, status and
commands travel on zmq (see docs/DESIGN.md, "zmq messages").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Marker:
    """An event for the ``neuroadapt-markers`` stream.

    Attributes
    ----------
    t : float
        LSL time of the event (data clock).
    event : str
        ``session_start``, ``phase_start``, ``phase_end``, ``calibration``,
        ``hold_start``, ``hold_end``, ``reward_start``, ``reward_end``,
        ``threshold``, ``pause``, ``resume``, ``difficulty``, ``session_end``.
    data : dict
        Event details, JSON-serialisable.
    """

    t: float
    event: str
    data: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The marker string as sent on LSL: a compact JSON object."""
        return json.dumps({"event": self.event, **self.data}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Control:
    """What the scene should show after one analysis window.

    ``reward`` is what the scene shows: the live rule's state (``reward_rule``)
    or the sham trace's, and False whenever feedback is hidden (baseline, rest,
    transfer) so a transfer phase stays blind. ``reward_rule`` is the live
    rule's state in every training and transfer phase, shown or not.
    ``hold_reason`` says why ``hold`` is set (``"paused"``, an artifact, a
    dropout); ``paused`` is true while the therapist has paused the session.
    """

    t: float
    phase: str
    phase_kind: str
    phase_index: int
    phase_elapsed: float
    feedback: bool
    hold: bool
    end: bool
    params: dict[str, float]
    features: dict[str, float]
    normalised: dict[str, float]
    reward: bool = False
    reward_rule: bool = False
    sham: bool = False
    repeat: int = 0
    paused: bool = False
    hold_reason: str = ""

    def to_message(self) -> dict:
        """The ``control`` bus payload (envelope fields are added by the bus)."""

        def clean(d: Mapping[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        return {
            "t_sample": self.t,
            "phase": self.phase,
            "phase_kind": self.phase_kind,
            "phase_index": self.phase_index,
            "phase_elapsed": round(self.phase_elapsed, 6),
            "feedback": self.feedback,
            "hold": self.hold,
            "end": self.end,
            "params": clean(self.params),
            "features": clean(self.features),
            "normalised": clean(self.normalised),
            "reward": self.reward,
            "reward_rule": self.reward_rule,
            "sham": self.sham,
            "paused": self.paused,
            "hold_reason": self.hold_reason or None,
        }


__all__ = ["Control", "Marker"]

"""Offline replay: a recording through the live engine's processing, faster than real time.

``neuroadapt replay FILE --protocol P`` reads any recording neuroadapt reads
(or a recorded session, which it then follows window by window), pushes it
through :class:`~neuroadapt.pipeline.Pipeline` and writes the session tables,
a per-phase summary and a report. See ``docs/replay.md``.
"""

from neuroadapt.replay.inputs import RecordedSession, ReplayInput, load_input
from neuroadapt.replay.run import Replay, ReplayResult, replay

__all__ = ["RecordedSession", "Replay", "ReplayInput", "ReplayResult", "load_input", "replay"]

"""EEG sources behind one interface: ``pull() -> (data, timestamps)``.

- :class:`SyntheticHeadset` / :class:`SyntheticSource`: seeded synthetic EEG (pure).
- :class:`LSLSource` and :func:`resolve_stream`: a live Lab Streaming Layer stream.
- :class:`HeadsetSimulator`: the synthetic headset as a live LSL outlet.
- :func:`read_recording` / :class:`FileSource`: recordings in every format MNE reads,
  XDF, OpenBCI GUI text and ARFF, with channel names normalised to 10-20 labels.

The LSL parts are imported on first use, so that the pure parts work without
loading liblsl (whose configuration is read once, at its first call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neuroadapt.sources.base import Source, pull_wait
from neuroadapt.sources.synthetic import (
    AmplitudeScript,
    ScriptStep,
    SyntheticHeadset,
    SyntheticSource,
)

if TYPE_CHECKING:
    from neuroadapt.sources.files import FileSource, Recording, RecordingError, read_recording
    from neuroadapt.sources.lsl_inlet import LSLSource, SourceState, StateChange, resolve_stream
    from neuroadapt.sources.simulate import HeadsetSimulator

__all__ = [
    "AmplitudeScript",
    "FileSource",
    "HeadsetSimulator",
    "LSLSource",
    "Recording",
    "RecordingError",
    "ScriptStep",
    "Source",
    "SourceState",
    "StateChange",
    "SyntheticHeadset",
    "SyntheticSource",
    "pull_wait",
    "read_recording",
    "resolve_stream",
]

_LAZY = {
    "LSLSource": "neuroadapt.sources.lsl_inlet",
    "SourceState": "neuroadapt.sources.lsl_inlet",
    "StateChange": "neuroadapt.sources.lsl_inlet",
    "resolve_stream": "neuroadapt.sources.lsl_inlet",
    "HeadsetSimulator": "neuroadapt.sources.simulate",
    "FileSource": "neuroadapt.sources.files",
    "Recording": "neuroadapt.sources.files",
    "RecordingError": "neuroadapt.sources.files",
    "read_recording": "neuroadapt.sources.files",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

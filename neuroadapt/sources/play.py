"""Any recording as a live LSL headset, and the ``neuroadapt play`` command.

:class:`RecordingPlayer` streams a :class:`~neuroadapt.sources.files.Recording`
(every format :func:`~neuroadapt.sources.files.read_recording` reads: EDF/BDF,
BrainVision, FIF, EEGLAB, XDF, OpenBCI GUI text, ARFF) as an LSL outlet of
type ``EEG`` with the file's channels and sampling rate, and its annotations as
a string marker stream ``<name>-markers``, in real time or faster::

    neuroadapt play S001R01.edf --speed 4 --loop

Timing: the stream's nominal rate is the file's rate at every speed. Sample
``k`` is pushed at ``t0 + k / (sfreq * speed)`` of ``pylsl.local_clock()`` and
stamped with that time (the pacing of :mod:`neuroadapt.sources.pacing`, shared
with ``neuroadapt simulate``), so at ``--speed 1`` the stream is exactly
regular at the file's rate and at ``--speed X`` its timestamps are ``X`` times
closer together. A marker is stamped with the time of its onset on the same
axis and pushed with the chunk that holds that sample.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from neuroadapt.errors import ConfigError
from neuroadapt.lsl import linger_for_consumers, make_stream_info
from neuroadapt.sources.pacing import StreamingThread, run_paced, stop_on_signals

if TYPE_CHECKING:
    import pylsl

    from neuroadapt.sources.files import Recording

__all__ = ["LOOP_MARKER", "RecordingPlayer", "add_parser", "cmd_play"]

#: Text of the marker sent at the first sample of every pass after the first
#: (``{n}`` is the pass number, 2 for the first repeat).
LOOP_MARKER = "loop {n}"
# Seconds of file time between two progress lines on stderr.
_PROGRESS_SECONDS = 10.0
_LSL_UNITS = {"µV": "microvolts"}


def _marker_positions(rec: Recording, first: int, n: int) -> tuple[list[tuple[float, str]], int]:
    """``(sample position in the played part, text)`` of each annotation inside it.

    Returns the markers, sorted, and how many annotations fall outside the part.
    """
    inside: list[tuple[float, str]] = []
    for a in rec.annotations:
        pos = a.onset * rec.sfreq - first
        if 0 <= pos < n:
            inside.append((pos, a.description))
    inside.sort(key=lambda m: m[0])
    return inside, len(rec.annotations) - len(inside)


class RecordingPlayer(StreamingThread):
    """Stream a recording over LSL as if it came from a headset.

    Parameters
    ----------
    recording : Recording
        What to play (every channel it holds is streamed).
    name : str
        LSL stream name; the markers stream is ``<name>-markers``.
    source_id : str, optional
        LSL source id; default ``"neuroadapt-play-<name>"``.
    speed : float
        How many times faster than real time (> 0).
    loop : bool
        Start again at the end, forever; each new pass is marked ``loop N``.
    start, duration : float, optional
        Play only ``duration`` seconds from ``start`` seconds into the file.
    labels : {"10-20", "file"}
        Channel labels: the normalised 10-20 labels neuroadapt uses (``C3..`` ->
        ``C3``), or the names exactly as the file writes them.
    chunk_seconds : float
        Approximate file time per pushed chunk.
    linger : float
        Seconds the outlets stay open after the last sample.
    wait : float
        Seconds to wait, once the streams are visible, for a consumer (a
        recorder, ``neuroadapt run``) on both of them before the first sample,
        so it receives the whole file; 0 starts at once.
    quiet : bool
        No readiness line on stdout, no progress lines on stderr.

    Attributes
    ----------
    info, marker_info : pylsl.StreamInfo
        The two streams' descriptions.
    n_pushed : int
        Samples pushed so far (over every pass).
    """

    def __init__(
        self,
        recording: Recording,
        *,
        name: str,
        source_id: str | None = None,
        speed: float = 1.0,
        loop: bool = False,
        start: float = 0.0,
        duration: float | None = None,
        labels: str = "10-20",
        chunk_seconds: float = 0.02,
        linger: float = 0.5,
        wait: float = 0.0,
        quiet: bool = False,
        progress: TextIO | None = None,
    ) -> None:
        if not name or not name.strip():
            raise ConfigError("--name: must be a non-empty string")
        if not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"--speed: must be a positive number, got {speed!r}")
        if labels not in ("10-20", "file"):
            raise ConfigError(f"--labels: must be '10-20' or 'file', got {labels!r}")
        sfreq = recording.sfreq
        total = recording.n_samples
        if not (math.isfinite(start) and 0 <= start < total / sfreq):
            raise ConfigError(
                f"--start {start:g}: must be from 0 to less than the recording's "
                f"{total / sfreq:g} s"
            )
        first = round(start * sfreq)
        if duration is not None:
            if not (math.isfinite(duration) and duration > 0):
                raise ConfigError(f"--duration: must be a positive number, got {duration!r}")
            stop_at = min(total, first + max(1, round(duration * sfreq)))
        else:
            stop_at = total
        self.recording = recording
        self.name = name
        self.source_id = source_id or f"neuroadapt-play-{name}"
        self.speed = float(speed)
        self.loop = loop
        self.quiet = quiet
        self.linger = max(0.0, float(linger))
        if not (math.isfinite(wait) and wait >= 0):
            raise ConfigError(f"--wait: must be 0 or more seconds, got {wait!r}")
        self.wait = float(wait)
        self._progress = progress if progress is not None else sys.stderr
        self._data = np.ascontiguousarray(recording.data[first:stop_at], dtype=np.float32)
        self._first = first
        self._markers, self.n_markers_outside = _marker_positions(recording, first, stop_at - first)
        self._chunk = max(1, round(chunk_seconds * sfreq * self.speed))
        super().__init__()
        self._outlet: pylsl.StreamOutlet | None = None
        self._marker_outlet: pylsl.StreamOutlet | None = None
        self._pending: Iterator[tuple[float, str]] = iter(())
        self._next_marker: tuple[float, str] | None = None
        self._next_progress = 0.0
        self.n_pushed = 0
        self.n_markers_pushed = 0
        ch_labels = recording.ch_names if labels == "10-20" else recording.original_names
        self.info = make_stream_info(
            name,
            "EEG",
            ch_labels,
            sfreq,
            "float32",
            self.source_id,
            units=[_LSL_UNITS.get(u, u) or None for u in recording.units],
            ch_types=[t.upper() for t in recording.ch_types],
        )
        self.marker_info = make_stream_info(
            f"{name}-markers", "Markers", ["marker"], 0.0, "string", f"{self.source_id}-markers"
        )

    @property
    def n_samples(self) -> int:
        """Samples in one pass."""
        return int(self._data.shape[0])

    def __repr__(self) -> str:
        return (
            f"RecordingPlayer({self.name!r}, {self.recording.path.name}, speed={self.speed:g}, "
            f"loop={self.loop})"
        )

    # ------------------------------------------------------------------ markers
    def _marker_sequence(self) -> Iterator[tuple[float, str]]:
        """Every marker to send, by position in samples since the start of the run."""
        n = self.n_samples
        pass_index = 0
        while True:
            base = pass_index * n
            if pass_index:
                yield float(base), LOOP_MARKER.format(n=pass_index + 1)
            for pos, text in self._markers:
                yield base + pos, text
            if not self.loop:
                return
            pass_index += 1

    def _push_markers(self, end: int, start: int, first_stamp: float) -> None:
        """Push the markers due before sample ``end``; stamps on the samples' time axis."""
        outlet = self._marker_outlet
        assert outlet is not None
        rate = self.recording.sfreq * self.speed
        while self._next_marker is not None and self._next_marker[0] < end:
            pos, text = self._next_marker
            outlet.push_sample([text], first_stamp + (pos - start) / rate)
            self.n_markers_pushed += 1
            self._next_marker = next(self._pending, None)

    # ------------------------------------------------------------------ streaming
    def open(self) -> None:
        """Create both outlets, making the streams visible; :meth:`run` calls it if needed."""
        import pylsl

        if self._outlet is None:
            self._outlet = pylsl.StreamOutlet(self.info)
        if self._marker_outlet is None:
            self._marker_outlet = pylsl.StreamOutlet(self.marker_info)

    def close(self) -> None:
        """Destroy both outlets, once a listening recorder has the last samples.

        Safe to call twice.
        """
        linger_for_consumers(self._outlet, self._marker_outlet)
        self._outlet = None
        self._marker_outlet = None

    def _push(self, start: int, n: int, stamps: np.ndarray) -> None:
        outlet = self._outlet
        assert outlet is not None
        size = self.n_samples
        offset = start % size
        if offset + n <= size:
            block = self._data[offset : offset + n]
        else:  # the chunk wraps around to the start of the next pass
            block = self._data[np.arange(start, start + n) % size]
        # Markers first: a consumer that sees a sample has seen the markers before it.
        self._push_markers(start + n, start, float(stamps[0]))
        outlet.push_chunk(block, stamps.tolist())
        self.n_pushed += n
        self._report(start + n)

    def _report(self, sent: int) -> None:
        if self.quiet:
            return
        sfreq = self.recording.sfreq
        played = sent / sfreq
        if played < self._next_progress and sent < self.n_samples:
            return
        self._next_progress = (math.floor(played / _PROGRESS_SECONDS) + 1) * _PROGRESS_SECONDS
        pass_index, pos = divmod(sent, self.n_samples)
        if pos == 0 and pass_index:
            pass_index, pos = pass_index - 1, self.n_samples
        where = f"{(self._first + pos) / sfreq:.1f} s of {self.recording.duration:.1f} s"
        if self.loop:
            where += f" (pass {pass_index + 1})"
        print(f"play {self.name}: at {where}", file=self._progress, flush=True)

    def _wait_for_consumers(self) -> bool:
        """Wait up to ``wait`` seconds (or :meth:`stop`) for a consumer on both outlets."""
        import time

        assert self._outlet is not None and self._marker_outlet is not None
        deadline = time.monotonic() + self.wait
        while not self._stop.is_set():
            if self._outlet.have_consumers() and self._marker_outlet.have_consumers():
                return True
            if time.monotonic() >= deadline:
                if not self.quiet:
                    print(
                        f"play {self.name}: no consumer on both streams after {self.wait:g} s; "
                        f"playing anyway",
                        file=self._progress,
                        flush=True,
                    )
                return False
            self._stop.wait(0.02)
        return False

    _what = "player"

    def _serve(self) -> None:
        """Stream until the end (or forever with ``loop``) or :meth:`stop`, then close.

        Prints ``streaming NAME: N ch @ F Hz ...`` on stdout first unless ``quiet``.
        """
        import pylsl

        try:
            self.open()
            if not self.quiet:
                rec = self.recording
                extra = f", speed {self.speed:g}x" if self.speed != 1 else ""
                extra += ", loop" if self.loop else ""
                print(
                    f"streaming {self.name}: {rec.n_channels} ch @ {rec.sfreq:g} Hz, "
                    f"{self.n_samples / rec.sfreq:.1f} s from {rec.path.name}{extra}, "
                    f"{len(self._markers)} marker{'' if len(self._markers) == 1 else 's'} "
                    f"on {self.name}-markers "
                    f"(source_id={self.source_id})",
                    flush=True,
                )
                if self.n_markers_outside:
                    print(
                        f"play {self.name}: {self.n_markers_outside} annotations lie outside "
                        f"the samples played and are not sent",
                        file=self._progress,
                        flush=True,
                    )
            if self.wait > 0:
                self._wait_for_consumers()
            self._pending = self._marker_sequence()
            self._next_marker = next(self._pending, None)
            self._next_progress = _PROGRESS_SECONDS
            run_paced(
                self._push,
                self.recording.sfreq * self.speed,
                chunk=self._chunk,
                stop=self._stop,
                clock=pylsl.local_clock,
                n_total=None if self.loop else self.n_samples,
                linger=self.linger,
            )
        finally:
            self.close()


# --------------------------------------------------------------------------- command
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``play`` subcommand on a ``neuroadapt`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.
    """
    parser = subparsers.add_parser(
        "play",
        help="stream a recording over LSL as if it were a headset",
        description=(
            "Stream a recording (EDF/BDF, BrainVision, FIF, EEGLAB, XDF, OpenBCI GUI text, "
            "ARFF) as an LSL stream of type EEG with the file's channels and sampling rate, "
            "and its annotations as a string stream NAME-markers, in real time or at --speed. "
            "Prints 'streaming NAME: ...' when the streams are visible; stops at the end, "
            "or on Ctrl-C."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the recording")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="times faster than real time; the stream keeps the file's nominal rate and its "
        "timestamps are the LSL clock at which each sample is due (default 1)",
    )
    parser.add_argument(
        "--loop", action="store_true", help="start again at the end, marking each pass 'loop N'"
    )
    parser.add_argument("--name", help="LSL stream name (default: the file name without suffix)")
    parser.add_argument("--source-id", help="LSL source id (default neuroadapt-play-NAME)")
    parser.add_argument("--stream", help="XDF: the EEG stream's name (default: the EEG stream)")
    parser.add_argument("--profile", help="headset profile naming the channels (see eeg/)")
    parser.add_argument(
        "--start", type=float, default=0.0, help="seconds into the file to start at (default 0)"
    )
    parser.add_argument("--duration", type=float, help="seconds of the file to play (default all)")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a consumer (a recorder, 'neuroadapt run') on both "
        "streams before the first sample, so it receives the whole file (default 0: start "
        "at once)",
    )
    parser.add_argument(
        "--eeg-only", action="store_true", help="stream only EEG channels (default: every channel)"
    )
    parser.add_argument(
        "--labels",
        choices=("10-20", "file"),
        default="10-20",
        help="channel labels: normalised 10-20 (C3.. -> C3, what protocols name) or exactly "
        "as the file writes them (default 10-20)",
    )
    parser.set_defaults(func=cmd_play)


def cmd_play(args: argparse.Namespace) -> int:
    """Run ``neuroadapt play``; returns the exit code.

    Raises
    ------
    NeuroadaptError
        The file cannot be read (``RecordingError``) or an option is bad (``ConfigError``).
    """
    from neuroadapt.sources.files import read_recording

    if not (math.isfinite(args.speed) and args.speed > 0):
        raise ConfigError(f"--speed: must be a positive number, got {args.speed:g}")
    recording = read_recording(
        args.file, stream=args.stream, eeg_only=args.eeg_only, profile=args.profile
    )
    for warning in recording.warnings:
        print(f"play: note: {warning}", file=sys.stderr)
    player = RecordingPlayer(
        recording,
        name=args.name or Path(args.file).name.split(".")[0],
        source_id=args.source_id,
        speed=args.speed,
        loop=args.loop,
        start=args.start,
        duration=args.duration,
        labels=args.labels,
        wait=args.wait,
    )
    with stop_on_signals(player.stop):
        player.run()
    return 0

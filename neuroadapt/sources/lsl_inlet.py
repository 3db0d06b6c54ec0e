"""EEG from a Lab Streaming Layer stream: resolve it, pull it, notice when it stalls.

A real headset (through its vendor's LSL app), ``neuroadapt simulate`` and
``neuroadapt play FILE`` all look the same from here::

    info = resolve_stream(name="neuroadapt-sim", stype="EEG", timeout=5.0)
    with LSLSource(info) as source:
        data, timestamps = source.pull()    # (n, n_channels), (n,)
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LSLTimeoutError

from neuroadapt.buffer import RingBuffer
from neuroadapt.errors import ConfigError, StreamError, StreamNotFoundError
from neuroadapt.lsl import channel_labels, channel_types
from neuroadapt.sources.base import Source

__all__ = [
    "LSLSource",
    "SourceState",
    "StateChange",
    "describe_stream",
    "not_found_message",
    "resolve_stream",
]

log = logging.getLogger(__name__)

# The numeric LSL formats and the NumPy type liblsl writes them as.
_NUMERIC_FORMATS: dict[int, type[np.number]] = {
    pylsl.cf_float32: np.float32,
    pylsl.cf_double64: np.float64,
    pylsl.cf_int8: np.int8,
    pylsl.cf_int16: np.int16,
    pylsl.cf_int32: np.int32,
    pylsl.cf_int64: np.int64,
}
_FORMAT_NAMES = {
    pylsl.cf_undefined: "undefined",
    pylsl.cf_string: "string",
    **{fmt: np.dtype(dtype).name for fmt, dtype in _NUMERIC_FORMATS.items()},
}
# liblsl queues at least this many seconds when pulls pause (a busy engine, a
# debugger): a backlog is then delivered over the next pulls instead of lost.
_MIN_INLET_SECONDS = 60
# How often resolve_stream looks at what the background resolver has found.
_RESOLVE_POLL = 0.05


# --------------------------------------------------------------------------- resolve
def resolve_stream(
    name: str | None = None,
    stype: str | None = None,
    source_id: str | None = None,
    timeout: float = 5.0,
) -> pylsl.StreamInfo:
    """Find the LSL stream that has every given property.

    Parameters
    ----------
    name, stype, source_id : str, optional
        Exact stream name, content type (``"EEG"``) and source id; the ones
        left out match anything.
    timeout : float
        Seconds to look for before giving up.

    Returns
    -------
    info : pylsl.StreamInfo
        The stream (a resolve result: its desc is empty until an inlet fetches it).
        When several match, the first seen is returned and a warning logged.

    Raises
    ------
    StreamNotFoundError
        Nothing matched within ``timeout``; its one-line message lists what was
        seen, e.g. ``no LSL stream with name='muse' within 5 s; streams seen:
        neuroadapt-sim (EEG, 8 ch @ 250 Hz), Markers (Markers, 1 ch, irregular)``.
    ConfigError
        ``timeout`` is not a positive number.
    """
    if not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"timeout: must be a positive number of seconds, got {timeout!r}")
    wanted = {
        key: value
        for key, value in (("name", name), ("type", stype), ("source_id", source_id))
        if value is not None
    }
    # Resolve everything and filter here rather than with an XPath predicate: one
    # wait serves both the match and the list of what was seen for the error, and
    # no quoting of user text into XPath is needed.
    resolver = pylsl.ContinuousResolver(forget_after=max(timeout, 1.0))
    deadline = time.monotonic() + timeout
    seen: list[pylsl.StreamInfo] = []
    try:
        while True:
            seen = resolver.results()
            matches = [info for info in seen if _matches(info, wanted)]
            if matches:
                if len(matches) > 1:
                    log.warning(
                        "%d LSL streams match %s; using %s",
                        len(matches),
                        _describe_query(wanted),
                        describe_stream(matches[0], verbose=True),
                    )
                return matches[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(_RESOLVE_POLL, remaining))
    finally:
        del resolver  # stops its background thread now rather than at garbage collection
    raise StreamNotFoundError(not_found_message(wanted, timeout, seen))


def _matches(info: pylsl.StreamInfo, wanted: dict[str, str]) -> bool:
    props = {"name": info.name, "type": info.type, "source_id": info.source_id}
    return all(props[key]() == value for key, value in wanted.items())


def _describe_query(wanted: dict[str, str]) -> str:
    if not wanted:
        return "any property"
    return ", ".join(f"{key}={value!r}" for key, value in wanted.items())


def not_found_message(wanted: dict[str, str], timeout: float, seen: list[pylsl.StreamInfo]) -> str:
    """The one-line message of :class:`StreamNotFoundError` for a failed resolve.

    Parameters
    ----------
    wanted : dict of str to str
        Properties asked for (``name``, ``type``, ``source_id``).
    timeout : float
        Seconds waited.
    seen : list of pylsl.StreamInfo
        Every stream that was visible.
    """
    query = f" with {_describe_query(wanted)}" if wanted else ""
    head = f"no LSL stream{query} within {timeout:g} s"
    if not seen:
        return f"{head}; no streams seen on this machine"
    return f"{head}; streams seen: {', '.join(describe_stream(info) for info in seen)}"


def describe_stream(info: pylsl.StreamInfo, *, verbose: bool = False) -> str:
    """Short description like ``neuroadapt-sim (EEG, 8 ch @ 250 Hz)``.

    With ``verbose``, the source id and host are added, which tell apart streams
    of the same name.
    """
    rate = info.nominal_srate()
    rate_text = "irregular" if rate == pylsl.IRREGULAR_RATE else f"@ {rate:g} Hz"
    sep = ", " if rate == pylsl.IRREGULAR_RATE else " "
    text = f"{info.name()} ({info.type()}, {info.channel_count()} ch{sep}{rate_text})"
    if verbose:
        text += f" source_id={info.source_id()!r} on {info.hostname()}"
    return text


# --------------------------------------------------------------------------- source
class SourceState(StrEnum):
    """Health of a live stream, as the engine and the console show it."""

    WAITING = "waiting"  # opened, no sample received yet
    OK = "ok"  # samples keep coming
    STALLED = "stalled"  # no new sample for longer than the stall timeout


@dataclass(frozen=True)
class StateChange:
    """A transition of :attr:`LSLSource.state`.

    Attributes
    ----------
    time : float
        ``pylsl.local_clock()`` when the change was noticed.
    old, new : SourceState
        State before and after.
    """

    time: float
    old: SourceState
    new: SourceState


class LSLSource(Source):
    """EEG pulled from an LSL inlet into a ring buffer.

    Parameters
    ----------
    info : pylsl.StreamInfo
        The stream, typically from :func:`resolve_stream`. It must have a
        regular sampling rate and a numeric format.
    buffer_seconds : float
        Seconds of signal kept in :attr:`buffer`. liblsl's own queue holds
        ``max(buffer_seconds, 60)`` seconds; only a pause of the puller longer
        than that loses samples (the oldest).
    stall_timeout : float
        Seconds without a new sample after which :attr:`state` becomes ``"stalled"``.
    max_chunk : int, optional
        Samples fetched per liblsl call (default: half a second); :meth:`pull`
        loops until the inlet is drained, so this sizes the preallocated
        transfer array, not how much one pull returns.
    open_timeout : float
        Seconds to wait for the stream's full description and subscription.
    dejitter : bool
        Smooth timestamps with liblsl's regression (``proc_dejitter``). Off by
        default: the raw (clock-synchronised, monotonised) stamps keep a real
        gap visible as a jump, whereas the dejitter filter assumes samples are
        never lost and would spread a gap over the following seconds. Feature
        windows count samples rather than reading stamps, so jitter does not
        reach them. Turn it on for a jittery device whose stamps must line up
        with markers to the millisecond.
    on_state_change : callable, optional
        Called with a :class:`StateChange` whenever the state changes, from
        the thread that calls :meth:`pull` or reads :attr:`state`.

    Attributes
    ----------
    ch_names : list of str
        Labels from the stream's desc (``ch1..chN`` when it has none).
    sfreq : float
        Nominal sampling rate.
    buffer : RingBuffer
        Every pulled sample (float64) with its timestamp, the last ``buffer_seconds``.
    name : str
        Stream name.

    Raises
    ------
    StreamError
        Irregular rate, non-numeric format, or the stream did not answer in time.

    Notes
    -----
    The inlet recovers by itself (``recover=True``) when a stream with a
    source id disappears and comes back; meanwhile :attr:`state` says
    ``"stalled"``. Use one thread per source: pulls are not locked.
    """

    def __init__(
        self,
        info: pylsl.StreamInfo,
        *,
        buffer_seconds: float = 30.0,
        stall_timeout: float = 2.0,
        max_chunk: int | None = None,
        open_timeout: float = 5.0,
        dejitter: bool = False,
        on_state_change: Callable[[StateChange], None] | None = None,
    ) -> None:
        _check_positive(buffer_seconds, "buffer_seconds")
        _check_positive(stall_timeout, "stall_timeout")
        _check_positive(open_timeout, "open_timeout")
        if max_chunk is not None and (
            isinstance(max_chunk, bool) or not isinstance(max_chunk, int) or max_chunk < 1
        ):
            raise ConfigError(f"max_chunk: must be a positive integer, got {max_chunk!r}")
        label = describe_stream(info, verbose=True)
        sfreq = info.nominal_srate()
        if sfreq == pylsl.IRREGULAR_RATE:
            raise StreamError(
                f"stream {label} has an irregular sampling rate; an EEG source needs a "
                "regular one (is it a marker stream?)"
            )
        fmt = info.channel_format()
        if fmt not in _NUMERIC_FORMATS:
            raise StreamError(
                f"stream {label} carries {_FORMAT_NAMES.get(fmt, str(fmt))} values; "
                "an EEG source needs numbers"
            )

        flags = pylsl.proc_clocksync | pylsl.proc_monotonize
        if dejitter:
            flags |= pylsl.proc_dejitter
        self._inlet: pylsl.StreamInlet | None = pylsl.StreamInlet(
            info,
            max_buflen=max(_MIN_INLET_SECONDS, math.ceil(buffer_seconds)),
            recover=True,
            processing_flags=flags,
        )
        try:
            full = self._inlet.info(timeout=open_timeout)
            # Subscribe now, so samples queue from here on, not from the first pull.
            self._inlet.open_stream(timeout=open_timeout)
        except LSLTimeoutError:
            self._inlet = None
            raise StreamError(f"stream {label} did not answer within {open_timeout:g} s") from None
        except LostError:
            self._inlet = None
            raise StreamError(f"stream {label} disappeared while being opened") from None

        self.info = full
        self.name: str = full.name()
        self.ch_names = channel_labels(full)
        self.ch_types = channel_types(full)
        self.sfreq = float(sfreq)
        self.stall_timeout = float(stall_timeout)
        self.buffer = RingBuffer(max(1, math.ceil(buffer_seconds * self.sfreq)), self.n_channels)
        chunk = max_chunk or max(32, math.ceil(0.5 * self.sfreq))
        # liblsl writes straight into this array, in the stream's own type; the ring
        # buffer converts to float64 as it copies, so no chunk-sized array is allocated.
        self._transfer = np.empty((chunk, self.n_channels), dtype=_NUMERIC_FORMATS[fmt])
        self._on_state_change = on_state_change
        self._state = SourceState.WAITING
        self._changes: deque[StateChange] = deque(maxlen=256)
        self._last_arrival: float | None = None
        self._last_timestamp: float | None = None

    def __repr__(self) -> str:
        return (
            f"LSLSource({self.name!r}, {self.n_channels} ch @ {self.sfreq:g} Hz, "
            f"state={self._state.value})"
        )

    # ------------------------------------------------------------------ data
    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Every sample received since the previous pull; see :meth:`Source.pull`.

        The samples are also written to :attr:`buffer`. One pull returns at most
        ``buffer.capacity`` samples (the rest waits for the next pull), so
        ``buffer.since(buffer.n_written - len(timestamps))`` always holds them.

        Raises
        ------
        StreamError
            The stream was lost and cannot be recovered (it has no source id),
            or the source was closed.
        """
        if self._inlet is None:
            raise StreamError(f"LSL source {self.name!r} is closed")
        first = self.buffer.n_written
        budget = self.buffer.capacity
        got = 0
        last_ts = None
        while got < budget:
            want = min(len(self._transfer), budget - got)
            try:
                data, timestamps = self._inlet.pull_chunk(
                    timeout=0.0, max_samples=want, dest_obj=self._transfer, as_numpy=True
                )
            except LostError:
                raise StreamError(
                    f"stream {self.name!r} was lost and cannot be recovered (it has no source_id)"
                ) from None
            n = len(timestamps)
            if n == 0:
                break
            self.buffer.write(data, timestamps)
            got += n
            last_ts = float(timestamps[-1])
            if n < want:
                break  # drained
        now = pylsl.local_clock()
        if got:
            self._last_arrival = now
            self._last_timestamp = last_ts
        self._update_state(now)
        if not got:
            return np.empty((0, self.n_channels)), np.empty(0)
        return self.buffer.since(first)

    def close(self) -> None:
        """Unsubscribe and destroy the inlet. Safe to call twice."""
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None  # pylsl destroys the liblsl inlet with the object

    # ----------------------------------------------------------------- health
    @property
    def state(self) -> SourceState:
        """``"waiting"``, ``"ok"`` or ``"stalled"``, evaluated on ``pylsl.local_clock()`` now.

        A change seen here is recorded like one seen by :meth:`pull`.
        """
        self._update_state(pylsl.local_clock())
        return self._state

    @property
    def last_sample_time(self) -> float | None:
        """``pylsl.local_clock()`` when the latest sample was received; None before any."""
        return self._last_arrival

    @property
    def last_timestamp(self) -> float | None:
        """LSL timestamp of the latest sample received; None before any."""
        return self._last_timestamp

    def state_changes(self) -> list[StateChange]:
        """State changes since the previous call, oldest first (the last 256 are kept)."""
        changes = list(self._changes)
        self._changes.clear()
        return changes

    def _update_state(self, now: float) -> None:
        if self._last_arrival is None:
            new = SourceState.WAITING
        elif now - self._last_arrival > self.stall_timeout:
            new = SourceState.STALLED
        else:
            new = SourceState.OK
        if new is self._state:
            return
        change = StateChange(now, self._state, new)
        self._state = new
        self._changes.append(change)
        if new is SourceState.STALLED:
            log.warning(
                "stream %r stalled: no sample for %.1f s", self.name, now - self._last_arrival
            )
        elif change.old is SourceState.STALLED:
            log.info("stream %r flowing again", self.name)
        if self._on_state_change is not None:
            self._on_state_change(change)

    @classmethod
    def resolve(
        cls,
        name: str | None = None,
        stype: str | None = None,
        source_id: str | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> LSLSource:
        """:func:`resolve_stream` then open it; ``kwargs`` go to the constructor."""
        return cls(resolve_stream(name, stype, source_id, timeout), **kwargs)


def _check_positive(value: object, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name}: must be a positive number, got {value!r}")

"""The live engine: EEG stream in; features, control and markers out.

One loop, no threads: pull new samples from the source, compute every window
they complete, step the protocol, and publish. The loop waits on the command
socket between pulls (a few milliseconds), so it answers commands promptly and
adds little latency. Every output is both an LSL stream (recorded by
LabRecorder) and, for control and status, a zmq message (for the scene and the
console).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from neuroadapt import bus
from neuroadapt.dsp.features import FeatureFrame
from neuroadapt.errors import NeuroadaptError
from neuroadapt.lsl import (
    STREAM_CONTROL,
    STREAM_FEATURES,
    STREAM_MARKERS,
    linger_for_consumers,
    make_stream_info,
)
from neuroadapt.pipeline import COMMANDS as PIPELINE_COMMANDS
from neuroadapt.pipeline import STALL_REASON, Pipeline
from neuroadapt.protocol import Control, LoadedProtocol, Marker
from neuroadapt.sources.base import Source

CONTROL_EXTRA = ("feedback", "hold", "phase_index")
GENTLE_EXIT_SECONDS = 60.0  # default time for the scene to ease to its neutral state
#: Events the ``marker`` command may record: a therapist's note, or the supervisor
#: saying it restarted the scene.
MARKER_EVENTS = ("note", "scene_restarted")
HOLD_REPEAT_SECONDS = 1.0  # while stalled, the hold is repeated (a restarted scene holds too)
#: After a stall, samples older than this (s) are a backlog: held until the data is current.
CATCH_UP_LAG = 0.5


@dataclass
class EngineOutlets:
    """The engine's three LSL outlets."""

    features: object
    control: object
    markers: object

    @classmethod
    def create(
        cls,
        session_id: str,
        feature_names: list[str],
        param_names: list[str],
        rate: float,
        endpoints: dict[str, str],
    ) -> EngineOutlets:
        import pylsl

        f_info = make_stream_info(
            STREAM_FEATURES, "Features", feature_names, rate, "double64", f"{session_id}/features"
        )
        # The bus endpoints travel in the features stream's desc, so a supervisor
        # or console finds the engine by resolving the stream (no port guessing).
        desc_bus = f_info.desc().append_child("bus")
        for key, value in endpoints.items():
            desc_bus.append_child_value(key, value)
        c_info = make_stream_info(
            STREAM_CONTROL,
            "Control",
            [*param_names, *CONTROL_EXTRA],
            rate,
            "double64",
            f"{session_id}/control",
        )
        m_info = make_stream_info(
            STREAM_MARKERS,
            "Markers",
            ["marker"],
            pylsl.IRREGULAR_RATE,
            "string",
            f"{session_id}/markers",
        )
        return cls(
            pylsl.StreamOutlet(f_info), pylsl.StreamOutlet(c_info), pylsl.StreamOutlet(m_info)
        )


class LiveEngine:
    """Runs a protocol on a live source until it ends or is stopped.

    Parameters
    ----------
    loaded : LoadedProtocol
        The validated protocol.
    source : Source
        Where samples come from (an LSL inlet in practice).
    session_id : str
        Carried in the ``source_id`` of every output stream.
    pub_address, commands_address : str
        zmq endpoints to bind (loopback by default).
    autostart : bool
        Start the protocol at the first sample instead of waiting for the
        ``start`` command.
    """

    def __init__(
        self,
        loaded: LoadedProtocol,
        source: Source,
        *,
        session_id: str,
        pub_address: str = bus.DEFAULT_PUB,
        commands_address: str = bus.DEFAULT_COMMANDS,
        autostart: bool = False,
        stream_name: str = "stream",
    ) -> None:
        self.loaded = loaded
        self.source = source
        self.pipeline = Pipeline(
            loaded,
            source.sfreq,
            source.ch_names,
            stream_name,
            ch_types=getattr(source, "ch_types", None),
            autostart=autostart,
        )
        self.extractor = self.pipeline.extractor
        self.protocol = self.pipeline.protocol
        self.stream_name = stream_name
        self.pub = bus.Publisher(pub_address)
        try:
            self.commands = bus.CommandServer(commands_address)
        except NeuroadaptError:
            self.pub.close()
            raise
        rate = 1.0 / loaded.protocol.signal.hop
        self.outlets = EngineOutlets.create(
            session_id,
            self.protocol.feature_names,
            self.protocol.param_names,
            rate,
            {"pub": self.pub.address, "commands": self.commands.address},
        )
        self._stop_reason: str | None = None
        self._gentle_exit: dict | None = None
        self._exit_deadline: float | None = None
        self._last_control: dict | None = None
        self._stream_state = "waiting"
        self._next_status = 0.0
        self._next_hold = 0.0
        self._last_ts: float | None = None  # newest sample time received
        self._gap_from: float | None = None  # last sample before a stall, until caught up
        self._gap_first = 0.0  # first sample after it
        self._latency_ms: float | None = None
        self.end_reason: str | None = None

    # -- commands ------------------------------------------------------------------------
    def _handle(self, cmd: str, body: dict) -> dict:
        source = str(body.get("source", "console"))[:40]
        if cmd == "ping":
            return {
                "started": self.protocol.t0 is not None,
                "stream": self._stream_state,
                "paused": self.pipeline.paused,
            }
        self._next_status = 0.0  # the console sees the effect at once
        if cmd == "start":
            try:
                self.pipeline.request_start()
            except RuntimeError as exc:
                raise NeuroadaptError(str(exc)) from None
            self._command_marker("start", source)
            return {}
        if cmd == "stop":
            if self._stop_reason is None:
                self._command_marker("stop", source)
            self._stop_reason = "stopped"
            return {}
        if cmd == "marker":
            event = body.get("event", "note")
            if event not in MARKER_EVENTS:
                raise NeuroadaptError(
                    f"marker event {event!r}: use one of {', '.join(MARKER_EVENTS)}"
                )
            data: dict = {"source": source}
            if "text" in body or event == "note":
                data["text"] = str(body.get("text", ""))[:1000]
            if isinstance(body.get("restarts"), int):
                data["restarts"] = body["restarts"]
            self._send_markers([Marker(self._now(), event, data)])
            return {}
        if cmd == "gentle_exit":
            return self._start_gentle_exit(body.get("duration", GENTLE_EXIT_SECONDS), source)
        if cmd in ("pause", "resume"):
            if self._gentle_exit is not None:
                raise NeuroadaptError(f"cannot {cmd}: a gentle exit is under way")
            self.pipeline.command(cmd, source=source)
            return {"paused": cmd == "pause"}
        if cmd == "set":
            unknown = sorted(set(body) - {"cmd", "source", "v", "t", "seq", "difficulty"})
            if unknown or "difficulty" not in body:
                raise NeuroadaptError(
                    f"set: only 'difficulty' can be set (got {', '.join(unknown) or 'nothing'})"
                )
            value = self.pipeline.command("difficulty", value=body["difficulty"], source=source)[
                "value"
            ]
            return {"difficulty": value}
        raise NeuroadaptError(f"command {cmd!r} is not available in this engine version")

    def _command_marker(self, cmd: str, source: str) -> None:
        """Record a start or stop command (their effects have their own markers)."""
        self._send_markers([Marker(self._now(), "command", {"cmd": cmd, "source": source})])

    def _start_gentle_exit(self, duration, source: str = "console") -> dict:
        """Ease the scene to its neutral state over ``duration`` s, then end the session."""
        if self._gentle_exit is not None:
            raise NeuroadaptError("a gentle exit is already under way")
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise NeuroadaptError(f"gentle_exit duration {duration!r} is not a number") from None
        if not 1.0 <= duration <= 600.0:
            raise NeuroadaptError(f"gentle_exit duration {duration:g} s: use 1 to 600 s")
        now = self._now()
        self._gentle_exit = {"duration": duration}
        self._exit_deadline = now + duration
        self._send_markers([Marker(now, "gentle_exit", {"duration": duration, "source": source})])
        if self._last_control is not None:  # tell the scene at once, not at the next window
            self._last_control = {**self._last_control, "gentle_exit": self._gentle_exit}
            self.pub.publish("control", self._last_control)
        return {"duration": duration}

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask the loop to end the session at its next turn (signal-safe)."""
        self._stop_reason = reason

    # -- output --------------------------------------------------------------------------
    def _now(self) -> float:
        import pylsl

        return pylsl.local_clock()

    def _send_markers(self, markers: list[Marker]) -> None:
        for m in markers:
            self.outlets.markers.push_sample([m.to_json()], m.t)

    def _publish(self, ctl: Control, artifacts: str = "") -> None:
        feats = [ctl.features[n] for n in self.protocol.feature_names]
        self.outlets.features.push_sample(feats, ctl.t)
        row = [ctl.params[p] for p in self.protocol.param_names]
        row += [float(ctl.feedback), float(ctl.hold), float(ctl.phase_index)]
        self.outlets.control.push_sample(row, ctl.t)
        msg = ctl.to_message()
        if self._gentle_exit is not None:
            msg["gentle_exit"] = self._gentle_exit
        msg["artifacts"] = artifacts or None
        self._last_control = msg
        now = self._now()
        self.pub.publish("control", msg, t=now)
        self._latency_ms = round((now - ctl.t) * 1000.0, 1)

    def _publish_waiting(self, frame: FeatureFrame) -> None:
        """Before start: stream features, keep the scene at its starting state."""
        self.outlets.features.push_sample(
            [frame.values[n] for n in self.protocol.feature_names], frame.t
        )
        msg = {
            "t_sample": frame.t,
            "phase": "waiting",
            "phase_kind": "waiting",
            "phase_index": -1,
            "phase_elapsed": 0.0,
            "feedback": False,
            "hold": False,
            "end": False,
            "params": dict(self.loaded.initial),
            "features": {k: bus.finite_or_none(v) for k, v in frame.values.items()},
            "normalised": {},
            "artifacts": frame.reason or None,
            "reward": False,
            "reward_rule": False,
            "sham": False,
            "paused": False,
            "hold_reason": None,
        }
        self._last_control = msg
        now = self._now()
        self.pub.publish("control", msg, t=now)
        self._latency_ms = round((now - frame.t) * 1000.0, 1)

    def _publish_status(self, now: float) -> None:
        self.pub.publish("status", self.status(now), t=now)

    def status(self, now: float) -> dict:
        """The ``status`` message (see docs/DESIGN.md): stream, phase, reward, quality."""
        last = getattr(self.source, "last_sample_time", None)
        proto = self.protocol
        started = proto.t0 is not None
        t = self.pipeline.last_t if self.pipeline.last_t is not None else now
        progress = proto.progress(t)
        if not started:
            progress["phase"] = "waiting"
        ctl = self._last_control or {}
        features, normalised = ctl.get("features") or {}, ctl.get("normalised") or {}
        feedback: dict[str, float | None] = {}
        thresholds: dict[str, float | None] = {}
        for j, c in enumerate(proto.conditions):
            key = c.feature if c.feature not in feedback else f"{c.feature}#{j + 1}"
            value = (normalised if c.scale == "normalised" else features).get(c.feature)
            feedback[key] = value if started else None
            thresholds[key] = bus.finite_or_none(proto.thresholds[j])
        rate = proto.reward_rate
        difficulty = proto.difficulty
        return {
            "stream": {
                "name": self.stream_name,
                "state": self._stream_state,
                "sfreq": self.source.sfreq,
                "n_channels": len(self.source.ch_names),
                "received": self.extractor.n_received,
                "last_sample_age": None if last is None else round(now - last, 3),
            },
            "started": started,
            **progress,
            "paused": self.pipeline.paused,
            "gentle_exit": self._gentle_exit,
            "feedback": feedback,
            "thresholds": thresholds,
            "reward": bool(ctl.get("reward", False)),
            "reward_rate": None if rate is None else round(rate, 4),
            "difficulty": {
                "value": None if difficulty is None else round(difficulty, 4),
                "adjustable": proto.adjustable,
            },
            "latency_ms": self._latency_ms,
            "quality": self._quality(),
        }

    def _quality(self) -> dict[str, dict[str, str]]:
        """Per-channel traffic light for the console: level and reason."""
        quality = self.extractor.quality
        if quality is None:
            return {}
        return {ch: {"level": q.level, "reason": q.reason} for ch, q in quality.levels.items()}

    # -- the loop ------------------------------------------------------------------------
    def _check_stream(self, now: float) -> None:
        state = getattr(self.source, "state", "ok")
        if state != self._stream_state:
            previous, self._stream_state = self._stream_state, state
            if state == "stalled":
                last = getattr(self.source, "last_timestamp", None) or self._last_ts
                self._send_markers(
                    [
                        Marker(
                            now,
                            "stream_stalled",
                            {
                                "stream": self.stream_name,
                                "last_sample": None if last is None else round(last, 6),
                            },
                        )
                    ]
                )
                self._next_hold = 0.0
            elif state == "ok" and previous == "stalled":  # came back without data (rare)
                self._send_markers([Marker(now, "stream_resumed", {"stream": self.stream_name})])
        if self._stream_state == "stalled" and now >= self._next_hold:
            # Hold the scene where it is, repeatedly, so a scene (re)started during
            # the stall holds too; the LSL control stream stays on the data clock.
            base = self._last_control or {
                "params": dict(self.loaded.initial),
                "phase": "waiting",
                "feedback": False,
            }
            self.pub.publish(
                "control", {**base, "hold": True, "hold_reason": STALL_REASON, "end": False}, t=now
            )
            self._next_hold = now + HOLD_REPEAT_SECONDS

    def _after_stall(self, ts) -> None:
        """Samples after a stall: hold the windows they complete until the data is current.

        A headset that comes back may deliver its backlog (late samples) in
        several chunks; every window up to the first sample that is current
        again (less than ``CATCH_UP_LAG`` old) is held, and the gap is then
        marked once with its extent, so an offline replay holds the same windows.
        """
        if self._stream_state == "stalled":
            self._gap_from = self._last_ts if self._last_ts is not None else float(ts[0])
            self._gap_first = float(ts[0])
            self._stream_state = "ok"
            self._next_status = 0.0
        if self._gap_from is None:
            return
        t_to = float(ts[-1])
        self.pipeline.hold_interval(self._gap_from, t_to, STALL_REASON)
        now = self._now()
        if now - t_to <= CATCH_UP_LAG:
            self._send_markers(
                [
                    Marker(
                        now,
                        "stream_resumed",
                        {
                            "stream": self.stream_name,
                            "gap": [round(self._gap_from, 6), round(t_to, 6)],
                            "late": round(max(0.0, t_to - self._gap_first), 3),
                        },
                    )
                ]
            )
            self._gap_from = None

    def _process(self, data, ts) -> None:
        for step in self.pipeline.push(data, ts):
            self._send_markers(step.markers)
            if any(m.event in PIPELINE_COMMANDS for m in step.markers):
                self._next_status = 0.0  # show the applied command at once
            if step.control is None:
                self._publish_waiting(step.frame)
                continue
            self._publish(step.control, step.frame.reason)
            if step.control.end:
                self.end_reason = "completed"
                return

    def run(self, max_wait: float | None = None) -> str:
        """Run until the protocol ends, ``stop`` arrives or a signal asks to stop.

        Parameters
        ----------
        max_wait : float, optional
            Give up (reason ``"no_data"``) if no sample arrived this many
            seconds after starting.

        Returns
        -------
        reason : str
            ``"completed"``, ``"stopped"``, ``"gentle_exit"`` or ``"no_data"``.
        """
        t_begin = self._now()
        while self.end_reason is None:
            self.commands.poll(self._handle, timeout=0.004)
            data, ts = self.source.pull()
            if len(ts):
                self._after_stall(ts)
                self._process(data, ts)
                self._last_ts = float(ts[-1])
            now = self._now()
            self._check_stream(now)
            if now >= self._next_status:
                self._publish_status(now)
                self._next_status = now + 1.0
            if self._stop_reason is not None and self.end_reason is None:
                self._finish(self._stop_reason)
            if (
                self._exit_deadline is not None
                and now >= self._exit_deadline
                and self.end_reason is None
            ):
                self._finish("gentle_exit")
            if max_wait is not None and self.extractor.n_received == 0 and now - t_begin > max_wait:
                self._finish("no_data")
        return self.end_reason

    def _finish(self, reason: str) -> None:
        t = self.pipeline.last_t if self.pipeline.last_t is not None else self._now()
        self._send_markers(
            [*self.protocol.pop_markers(), Marker(t, "session_end", {"reason": reason})]
        )
        end = {
            **(self._last_control or {"params": dict(self.loaded.initial)}),
            "end": True,
            "phase": "end",
        }
        self.pub.publish("control", end)
        self.end_reason = reason

    def close(self) -> None:
        """Release sockets and outlets."""
        self.pub.close()
        self.commands.close()
        self.source.close()
        if self.outlets is not None:  # the last markers (session_end) must reach the recorder
            linger_for_consumers(self.outlets.features, self.outlets.control, self.outlets.markers)
        self.outlets = None  # type: ignore[assignment]


def run_engine(
    loaded: LoadedProtocol,
    *,
    stream_name: str | None,
    stream_type: str | None,
    source_id: str | None,
    session_id: str,
    pub_address: str,
    commands_address: str,
    autostart: bool,
    resolve_timeout: float,
) -> str:
    """Resolve the EEG stream, run the engine, and report how it ended."""
    from neuroadapt.sources.lsl_inlet import LSLSource, resolve_stream

    info = resolve_stream(
        name=stream_name, stype=stream_type, source_id=source_id, timeout=resolve_timeout
    )
    source = LSLSource(info)
    engine = LiveEngine(
        loaded,
        source,
        session_id=session_id,
        pub_address=pub_address,
        commands_address=commands_address,
        autostart=autostart,
        stream_name=info.name(),
    )

    def on_signal(signum, frame):
        engine.request_stop("stopped")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"engine ready: {info.name()} ({len(source.ch_names)} ch @ {source.sfreq:g} Hz), "
        f"control on {engine.pub.address}, commands on {engine.commands.address}",
        flush=True,
    )
    try:
        reason = engine.run()
    finally:
        engine.close()
    print(f"engine ended: {reason}", flush=True)
    return reason

"""What the console shows: engine messages in, one view model out (pure, no I/O).

The engine publishes ``control`` (per analysis window) and ``status`` (1 Hz)
messages whose fields grow between versions; the page should never have to
guess. :class:`ConsoleState` takes every message the console receives (bus,
scene stream, ``session.json``) and :meth:`ConsoleState.view` turns the latest
of each into one plain dict with every field present (``None`` when not
known), which the server sends to the browser as JSON. Missing or malformed
fields never raise: an older or newer engine shows what it sends.

The browser's requests go the other way: :func:`client_command` checks a
websocket request and turns it into an engine command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from neuroadapt.errors import NeuroadaptError

#: Quality level -> traffic light colour (the page also prints the level and reason).
LIGHTS = {"good": "green", "fair": "amber", "bad": "red"}
#: Seconds without any engine message before the engine is shown as silent.
SILENT_AFTER = 3.0
#: Seconds without a scene frame before the scene mirror falls back to control targets.
SCENE_STALE_AFTER = 3.0
GENTLE_EXIT_DEFAULT = 60.0
NOTE_MAX_CHARS = 1000


class ConsoleRequestError(NeuroadaptError):
    """A request from the page is malformed (unknown action, value out of range)."""


def _num(value) -> float | None:
    """A finite float, or None for anything else (None, NaN, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _pairs(value, prefix: str = "") -> list[list]:
    """Flatten numbers, texts and nested dicts into ``[label, value]`` rows for display."""
    rows: list[list] = []
    if isinstance(value, dict):
        for key, item in value.items():
            rows += _pairs(item, f"{prefix}{key}" if not prefix else f"{prefix} {key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            rows += _pairs(item, f"{prefix}[{i}]")
    elif isinstance(value, str):
        rows.append([prefix or "value", value])
    elif isinstance(value, bool):
        rows.append([prefix or "value", "yes" if value else "no"])
    elif _num(value) is not None or value is None:
        rows.append([prefix or "value", _num(value)])
    return rows


def _iso_seconds(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


@dataclass
class ConsoleState:
    """The latest of everything the console has heard, and how to show it.

    Times: ``now`` arguments are a monotonic clock (seconds); ``lsl_now`` is
    ``pylsl.local_clock()``, the clock of ``t_sample``, used for latency.
    """

    scene_configured: bool = False
    status: dict = field(default_factory=dict)
    control: dict = field(default_factory=dict)
    scene: dict = field(default_factory=dict)
    session: dict = field(default_factory=dict)
    last_message: float | None = None
    last_scene: float | None = None
    latency_ms: float | None = None
    phases_seen: list[dict] = field(default_factory=list)
    t_first: float | None = None
    t_last: float | None = None
    windows_feedback: int = 0
    windows_rewarded: int = 0

    # -- input ---------------------------------------------------------------------------
    def on_status(self, msg: dict, now: float) -> None:
        self.status = _dict(msg)
        self.last_message = now

    def on_control(self, msg: dict, now: float, lsl_now: float | None = None) -> None:
        msg = _dict(msg)
        self.control = msg
        self.last_message = now
        t_sample = _num(msg.get("t_sample"))
        if t_sample is not None and lsl_now is not None:
            self.latency_ms = round(1000.0 * (lsl_now - t_sample), 1)
        index = msg.get("phase_index")
        name = _text(msg.get("phase"))
        if isinstance(index, int) and index >= 0 and name and not msg.get("end"):
            if t_sample is not None:
                self.t_first = t_sample if self.t_first is None else self.t_first
                self.t_last = t_sample
            if not self.phases_seen or self.phases_seen[-1]["index"] != index:
                self.phases_seen.append(
                    {"index": index, "name": name, "kind": _text(msg.get("phase_kind"))}
                )
            if msg.get("feedback") is True and not msg.get("hold"):
                self.windows_feedback += 1
                self.windows_rewarded += msg.get("reward") is True

    def on_scene(self, params: dict, now: float) -> None:
        self.scene = {k: _num(v) for k, v in _dict(params).items()}
        self.last_scene = now

    def on_session(self, record: dict) -> None:
        self.session = _dict(record)

    # -- output --------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        ended = self.session.get("ended")
        return bool(self.control.get("end")) or (isinstance(ended, str) and ended != "running")

    def reward_rate(self) -> float | None:
        """The engine's reward rate, else the share of rewarded feedback windows seen."""
        rate = _num(self.status.get("reward_rate"))
        if rate is not None:
            return rate
        if self.windows_feedback:
            return self.windows_rewarded / self.windows_feedback
        return None

    def _engine_state(self, now: float) -> str:
        if self.last_message is None:
            return "waiting"
        if self.ended:
            return "ended"
        return "silent" if now - self.last_message > SILENT_AFTER else "connected"

    def _channels(self) -> list[dict]:
        out = []
        for name, q in _dict(self.status.get("quality")).items():
            q = _dict(q)
            level = q.get("level") if q.get("level") in LIGHTS else "unknown"
            out.append(
                {
                    "name": str(name),
                    "level": level,
                    "light": LIGHTS.get(level, "grey"),
                    "reason": _text(q.get("reason")) or ("" if level != "unknown" else "?"),
                }
            )
        return out

    def _phase(self) -> dict:
        ctl, st = self.control, self.status
        name = _text(ctl.get("phase")) or _text(st.get("phase"))
        elapsed = _num(ctl.get("phase_elapsed"))
        if elapsed is None:
            elapsed = _num(st.get("phase_elapsed"))
        remaining = _num(st.get("phase_remaining"))
        st_elapsed = _num(st.get("phase_elapsed"))
        duration = None
        if remaining is not None and st_elapsed is not None:
            duration = st_elapsed + remaining
            if elapsed is not None and _text(st.get("phase")) == name:
                # The status is up to a second old: count down with the control messages.
                remaining = max(0.0, duration - elapsed)
        return {
            "name": name,
            "kind": _text(ctl.get("phase_kind")) or _text(st.get("phase_kind")),
            "index": ctl.get("phase_index") if isinstance(ctl.get("phase_index"), int) else None,
            "elapsed": elapsed,
            "remaining": remaining,
            "duration": duration,
            "instructions": _text(st.get("instructions")) or _text(ctl.get("instructions")),
            "feedback_on": ctl.get("feedback") is True,
        }

    def _feedback(self) -> dict:
        ctl, st = self.control, self.status
        features = _pairs(_dict(ctl.get("features")))
        normalised = _pairs(_dict(ctl.get("normalised")))
        return {
            "features": features,
            "normalised": normalised,
            "engine_feedback": _pairs(st.get("feedback")) if "feedback" in st else [],
            "thresholds": _pairs(st.get("thresholds")) if "thresholds" in st else [],
            "reward": ctl.get("reward") is True,
            "hold": ctl.get("hold") is True,
            "artifacts": _text(ctl.get("artifacts")),
            # Why feedback is held: paused, stream stalled, or an artifact.
            "hold_reason": _text(ctl.get("hold_reason")) or _text(ctl.get("artifacts")),
        }

    def _scene(self, now: float) -> dict:
        fresh = self.last_scene is not None and now - self.last_scene <= SCENE_STALE_AFTER
        if fresh:
            return {"source": "scene", "connected": True, "params": _pairs(self.scene)}
        params = {k: _num(v) for k, v in _dict(self.control.get("params")).items()}
        return {
            "source": "control",
            "connected": False if self.scene_configured else None,
            "params": _pairs(params),
        }

    def summary(self) -> dict | None:
        """How the session ended, or None while it runs."""
        if not self.ended:
            return None
        how = self.session.get("ended")
        if not isinstance(how, str) or how == "running":
            how = "gentle exit" if self.control.get("gentle_exit") else "ended"
        duration = _iso_seconds(self.session.get("start"), self.session.get("end"))
        if duration is None and self.t_first is not None and self.t_last is not None:
            duration = self.t_last - self.t_first
        done = [p["name"] for p in self.phases_seen[:-1]]
        if self.phases_seen and how == "completed":
            done.append(self.phases_seen[-1]["name"])
        return {
            "ended": how,
            "duration_s": None if duration is None else round(duration, 1),
            "phases_done": done,
            "phase_at_end": self.phases_seen[-1]["name"] if self.phases_seen else None,
            "reward_rate": self.reward_rate(),
            "protocol": _text(_dict(self.session.get("protocol")).get("name")),
        }

    def view(self, now: float) -> dict:
        """Everything the page shows, every key always present."""
        st = self.status
        stream = _dict(st.get("stream"))
        difficulty = _dict(st.get("difficulty"))
        latency = _num(st.get("latency_ms"))
        gentle = self.control.get("gentle_exit")
        index = self.control.get("phase_index")
        return {
            "engine": self._engine_state(now),
            "started": st.get("started") is True or (isinstance(index, int) and index >= 0),
            "paused": (
                self.control.get("paused")
                if isinstance(self.control.get("paused"), bool)
                else st.get("paused") is True
            ),
            "stream": {
                "name": _text(stream.get("name")),
                "state": _text(stream.get("state")),
                "sfreq": _num(stream.get("sfreq")),
                "n_channels": _num(stream.get("n_channels")),
                "received": _num(stream.get("received")),
                "last_sample_age": _num(stream.get("last_sample_age")),
            },
            "latency_ms": latency if latency is not None else self.latency_ms,
            "latency_source": "engine" if latency is not None else "console",
            "channels": self._channels(),
            "phase": self._phase(),
            "feedback": self._feedback(),
            "reward_rate": self.reward_rate(),
            "difficulty": {
                "value": _num(difficulty.get("value")),
                "adjustable": difficulty.get("adjustable") is True,
            },
            "gentle_exit": (
                _num(_dict(gentle).get("duration")) or GENTLE_EXIT_DEFAULT if gentle else None
            ),
            "scene": self._scene(now),
            "ended": self.ended,
            "summary": self.summary(),
        }


def client_command(request: dict) -> tuple[str, dict]:
    """Turn a page request into an engine command and its body.

    ``{"action": "note", "text": ...}`` becomes ``("marker", {"text": ...})``,
    ``{"action": "difficulty", "value": v}`` becomes ``("set", {"difficulty": v})``;
    ``start``, ``pause``, ``resume``, ``stop`` pass through; ``gentle_exit`` takes
    an optional ``duration`` (1-600 s, default 60).

    Raises
    ------
    ConsoleRequestError
        For an unknown action, an empty note, or a value out of range.
    """
    action = _dict(request).get("action")
    if action in ("start", "pause", "resume", "stop"):
        return action, {}
    if action == "gentle_exit":
        duration = request.get("duration", GENTLE_EXIT_DEFAULT)
        value = _num(duration)
        if value is None or not 1.0 <= value <= 600.0:
            raise ConsoleRequestError(f"gentle exit duration {duration!r}: use 1 to 600 s")
        return "gentle_exit", {"duration": value}
    if action == "note":
        text = request.get("text")
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            raise ConsoleRequestError("the note is empty")
        if len(text) > NOTE_MAX_CHARS:
            raise ConsoleRequestError(f"the note is longer than {NOTE_MAX_CHARS} characters")
        return "marker", {"text": text}
    if action == "difficulty":
        value = _num(request.get("value"))
        if value is None or not 0.0 <= value <= 1.0:
            raise ConsoleRequestError(f"difficulty {request.get('value')!r}: use 0 to 1")
        return "set", {"difficulty": value}
    raise ConsoleRequestError(f"unknown action {action!r}")


__all__ = ["LIGHTS", "ConsoleRequestError", "ConsoleState", "client_command"]

"""Run a whole session: headset (or simulator), engine, scene and recorder.

Each part runs as its own process, started in dependency order and each
checked before the next one starts:

1. the EEG stream (``neuroadapt simulate`` for the demo, or a real headset);
2. the engine, whose LSL outputs announce its bus endpoints;
3. the scene, subscribed to the engine's control messages;
4. the recorder (LabRecorder), collecting every stream of the session;

5. the console (``neuroadapt console``), whose address is printed;

then a signal check (per-channel quality, at least a few seconds of recorded
EEG) and the protocol starts: at once for the demo or with ``--autostart``,
else when the therapist presses start in the console. At the end (or on
Ctrl-C) the engine ends the protocol, the scene and the recorder are stopped
in that order so the recording keeps every marker, and ``session.json`` says
how the session ended.

During the session a scene that dies is restarted (a few times at most) and
the restart is marked in the recording; an engine that dies ends the session
as ``crashed`` with the recording finished cleanly.

Children run in their own process groups: a Ctrl-C in the terminal reaches
the supervisor only, which then shuts the others down in order. They also
die with the supervisor (Linux ``PR_SET_PDEATHSIG``): should it be killed,
each gets SIGTERM, and the recorder then finishes the XDF file.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from neuroadapt import bus
from neuroadapt.errors import NeuroadaptError, RecorderError, StreamNotFoundError
from neuroadapt.lsl import (
    STREAM_CONTROL,
    STREAM_FEATURES,
    STREAM_MARKERS,
    STREAM_SCENE,
    bus_endpoints,
)
from neuroadapt.protocol import LoadedProtocol
from neuroadapt.record import session as sess

#: How often the scene may be restarted in one session before it is given up.
MAX_SCENE_RESTARTS = 5
#: Seconds of recorded EEG before the protocol starts (the signal check); an
#: offline replay of the recording then has filters settled as the live engine had.
SIGNAL_CHECK_SECONDS = 5.0
CONSOLE_TOKEN_ENV = "NEUROADAPT_CONSOLE_TOKEN"
_PR_SET_PDEATHSIG = 1
#: Seconds LabRecorderCLI may take to start recording the session's streams.
RECORDER_START_TIMEOUT = 45.0
_CONSOLE_LINE = re.compile(r"^console: (\S+)", re.MULTILINE)


def _die_with_parent(parent: int):
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when ``parent`` dies."""

    def preexec() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec if sys.platform.startswith("linux") else None


@dataclass
class Child:
    """A supervised process and its log file."""

    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3) -> str:
        """The last ``n`` lines of its log on one line (a child's own error prefix dropped)."""
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.removeprefix("neuroadapt: error: ") for line in lines[-n:])


@dataclass
class SessionPlan:
    """What to run.

    Attributes
    ----------
    loaded : LoadedProtocol
        Validated protocol (its text is saved as ``protocol.toml``).
    protocol_text : str
        The exact protocol file content to save and hand to the engine.
    subject : str
        Pseudonymous subject id.
    out : Path
        Root folder of sessions.
    scene : str
        Scene name (the protocol's by default).
    headless : bool
        Render offscreen instead of in a window.
    stream : dict
        LSL query for the EEG stream (``name``, ``type``, ``source_id``).
    simulate : list of str, optional
        Arguments for ``neuroadapt simulate`` (the demo's synthetic headset).
    settings : dict
        Extra settings to record in ``session.json``.
    resolve_timeout : float
        Seconds to wait for the headset stream.
    autostart : bool
        Start the protocol after the signal check; else wait for the
        therapist's start in the console (needs ``console``).
    console : bool
        Start ``neuroadapt console`` and print its address.
    console_host, console_port : str, int
        Where the console listens (port 0: any free one).
    console_token : str, optional
        Access token, required by the console beyond loopback; given to it in
        the environment, never on its command line.
    console_required : bool
        A console that does not start fails the session (else: a warning).
    vr : bool
        Show the scene in the VR headset (``--output vr``).
    linger : float
        Seconds the console stays up after the report, to show the summary.
    check_seconds : float
        Seconds of recorded EEG before the protocol may start.
    start_after : float, optional
        Start no earlier than this many seconds after the simulator started
        (the demo's synthetic brain follows a script on that clock).
    """

    loaded: LoadedProtocol
    protocol_text: str
    subject: str
    out: Path
    scene: str
    headless: bool
    stream: dict[str, str]
    simulate: list[str] | None = None
    settings: dict = field(default_factory=dict)
    resolve_timeout: float = 10.0
    autostart: bool = True
    console: bool = False
    console_host: str = "127.0.0.1"
    console_port: int = 0
    console_token: str | None = None
    console_required: bool = False
    vr: bool = False
    linger: float = 0.0
    check_seconds: float = SIGNAL_CHECK_SECONDS
    start_after: float | None = None


class SessionSupervisor:
    """Starts, watches and stops the processes of one session."""

    def __init__(self, plan: SessionPlan, *, echo=print) -> None:
        self.plan = plan
        self.echo = echo
        self.children: dict[str, Child] = {}
        self._reported: set[str] = set()  # children whose exit an error already told
        self.session_id = sess.new_session_id()
        self.dir = sess.create_session_dir(
            plan.out, plan.subject, plan.loaded.protocol.protocol.name
        ).resolve()
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        (self.dir / "protocol.toml").write_text(plan.protocol_text, encoding="utf-8")
        self.record = sess.session_record(
            session_id=self.session_id,
            subject=plan.subject,
            protocol_name=plan.loaded.protocol.protocol.name,
            protocol_version=plan.loaded.protocol.protocol.version,
            protocol_sha256=plan.loaded.sha256,
            settings={
                "scene": plan.scene,
                "headless": plan.headless,
                "stream": plan.stream,
                "simulated": plan.simulate is not None,
                **plan.settings,
            },
        )
        self._save()
        self._interrupted = False
        self._lock = None
        lock_cls = getattr(sess, "SessionLock", None)
        if lock_cls is not None:  # tells other commands this session is live
            self._lock = lock_cls(self.dir).acquire()
        self._t_sim: float | None = None
        self._t_recording: float | None = None
        self.console_url: str | None = None
        self.scene_restarts = 0
        self._restarted_scene = False
        self._scene_args: list[str] = []

    # -- processes -----------------------------------------------------------------------
    def _save(self) -> None:
        sess.write_json_atomic(self.dir / "session.json", self.record)

    def spawn(
        self,
        name: str,
        args: list[str],
        *,
        log_name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        """Start ``python -m neuroadapt ARGS`` in its own session, dying with us."""
        log = self.logs / f"{log_name or name}.log"
        fh = open(log, "w", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "neuroadapt", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        fh.close()
        child = Child(name, proc, log)
        self.children[name] = child
        return child

    def _wait(self, child: Child, what: str, ready, timeout: float):
        """Poll ``ready()`` until it returns a value, the child dies, or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._interrupted:
                raise KeyboardInterrupt
            result = ready()
            if result:
                return result
            if not child.alive():
                self._reported.add(child.name)  # said once, in this error
                raise NeuroadaptError(f"{child.name} exited before {what}: {child.tail()}")
            time.sleep(0.1)
        raise NeuroadaptError(
            f"{child.name}: waited {timeout:g} s in vain for {what} (log: {child.log})"
        )

    def _resolve(self, child: Child, source_id: str, timeout: float):
        import pylsl

        # A continuous resolver keeps querying in the background; short one-shot
        # resolves in a loop can miss a stream that a single longer wait finds.
        resolver = pylsl.ContinuousResolver(prop="source_id", value=source_id)
        return self._wait(
            child,
            f"its stream {source_id!r} appeared",
            lambda: (resolver.results() or [None])[0],
            timeout,
        )

    def _log_has(self, child: Child, text: str, timeout: float) -> None:
        self._wait(
            child, f"'{text}'", lambda: text in child.log.read_text(errors="replace"), timeout
        )

    def stop_child(self, name: str, sig: int = signal.SIGINT, timeout: float = 10.0) -> None:
        """Ask a child to stop, escalating to SIGTERM then SIGKILL."""
        child = self.children.get(name)
        if child is None or not child.alive():
            return
        for s, wait in ((sig, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                child.proc.send_signal(s)
            except ProcessLookupError:
                return
            try:
                child.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                self.echo(f"{name} did not stop after {signal.Signals(s).name}; escalating")

    # -- the session ---------------------------------------------------------------------
    def run(self) -> Path:
        """Run the session to its end; returns the session folder."""
        old = signal.signal(signal.SIGINT, self._on_interrupt)
        old_term = signal.signal(signal.SIGTERM, self._on_interrupt)
        ended = "crashed"
        try:
            try:
                ended = self._run()
            except KeyboardInterrupt:
                ended = "stopped"
            except NeuroadaptError:
                ended = "failed"
                raise
            finally:
                self._shutdown()
                self.record["end"] = sess.now_iso()
                self.record["ended"] = ended
                self._save()
                if self._lock is not None:
                    self._lock.release()
            self._report()
            self.echo(f"session ({ended}): {self.dir}")
            self._linger()
        finally:
            self.stop_child("console")
            signal.signal(signal.SIGINT, old)
            signal.signal(signal.SIGTERM, old_term)
        return self.dir

    def _report(self) -> None:
        if not (self.dir / "session.xdf").exists():
            return
        try:
            from neuroadapt.record.report import write_report

            report = write_report(self.dir)
            self.echo(f"report: {report}")
        except Exception as exc:  # the recording is safe; a report can be made later
            self.echo(f"report could not be written ({type(exc).__name__}: {exc})")

    def _linger(self) -> None:
        """Keep the console up a while so the therapist sees the summary."""
        console = self.children.get("console")
        if console is None or not console.alive() or self.plan.linger <= 0:
            return
        self._interrupted = False
        self.echo(
            f"the console shows the summary for {self.plan.linger:g} s "
            f"(Ctrl-C ends it now): {self.console_url}"
        )
        deadline = time.monotonic() + self.plan.linger
        while time.monotonic() < deadline and console.alive() and not self._interrupted:
            time.sleep(0.2)

    def _on_interrupt(self, signum, frame) -> None:
        if not self._interrupted and self.record.get("ended") == "running":
            self.echo("\nstopping the session (the recording is kept)...")
        self._interrupted = True

    def _run(self) -> str:
        plan = self.plan
        sid = self.session_id
        stream = dict(plan.stream)
        if plan.simulate is not None:
            sim_id = f"{sid}/eeg"
            self._t_sim = time.monotonic()
            sim = self.spawn("simulate", ["simulate", *plan.simulate, "--source-id", sim_id])
            self._resolve(sim, sim_id, plan.resolve_timeout)
            stream = {"source_id": sim_id}
            self.echo(f"headset: simulated ({sim.tail(1)})")
        engine_args = [
            "engine",
            "--protocol",
            str(self.dir / "protocol.toml"),
            "--session-id",
            sid,
            "--pub",
            "tcp://127.0.0.1:*",
            "--commands",
            "tcp://127.0.0.1:*",
            "--resolve-timeout",
            str(plan.resolve_timeout),
        ]
        for key, opt in (
            ("name", "--stream"),
            ("type", "--stream-type"),
            ("source_id", "--source-id"),
        ):
            if key in stream:
                engine_args += [opt, stream[key]]
        engine = self.spawn("engine", engine_args)
        info = self._resolve(engine, f"{sid}/features", plan.resolve_timeout + 10)
        endpoints = bus_endpoints(info)
        self.echo(f"engine: control on {endpoints['pub']}")
        if plan.console:
            self._start_console(endpoints)
        self._scene_args = [
            "scene",
            plan.scene,
            "--control",
            endpoints["pub"],
            "--source-id",
            f"{sid}/scene",
        ]
        if plan.vr:
            self._scene_args += ["--output", "vr"]
        elif plan.headless:
            self._scene_args.append("--headless")
        scene = self.spawn("scene", self._scene_args)
        self._resolve(scene, f"{sid}/scene", 60.0)
        output = "VR headset" if plan.vr else "offscreen" if plan.headless else "window"
        self.echo(f"scene: {plan.scene} ({output})")
        eeg_query = ",".join(f"{k}={v}" for k, v in stream.items())
        # Every stream is up already; the time is LabRecorderCLI's own start-up,
        # which a loaded machine can stretch well past its usual second.
        rec_args = [
            "record",
            str(self.dir / "session.xdf"),
            "--timeout",
            f"{RECORDER_START_TIMEOUT:g}",
            "--stream",
            eeg_query,
        ]
        for name in (STREAM_FEATURES, STREAM_CONTROL, STREAM_MARKERS):
            rec_args += ["--stream", f"name={name},source_id={sid}/{name.split('-')[1]}"]
        rec_args += ["--stream", f"name={STREAM_SCENE},source_id={sid}/scene"]
        recorder = self.spawn("recorder", rec_args)
        self._log_has(recorder, "recording started: ", RECORDER_START_TIMEOUT + 15.0)
        self._t_recording = time.monotonic()
        self.record["streams"] = rec_args[5::2]
        self._save()
        self.echo(f"recording: {self.dir / 'session.xdf'}")
        return self._drive(endpoints)

    def _start_console(self, endpoints: dict[str, str]) -> None:
        """Start the therapist's console and print its address once it listens."""
        plan = self.plan
        args = [
            "console",
            "--pub",
            endpoints["pub"],
            "--commands",
            endpoints["commands"],
            "--session",
            str(self.dir),
            "--host",
            plan.console_host,
            "--port",
            str(plan.console_port),
            "--scene-source-id",
            f"{self.session_id}/scene",
        ]
        env = {CONSOLE_TOKEN_ENV: plan.console_token} if plan.console_token else None
        console = self.spawn("console", args, env=env)
        try:
            match = self._wait(
                console,
                "its address",
                lambda: _CONSOLE_LINE.search(console.log.read_text(errors="replace")),
                30.0,
            )
        except NeuroadaptError as exc:
            self.stop_child("console")
            if plan.console_required:
                raise NeuroadaptError(
                    f"the console did not start ({exc}); use --no-console to run without it"
                ) from None
            self.echo(f"console: not available ({exc})")
            del self.children["console"]
            return
        self.console_url = match.group(1)
        self.echo(f"console: {self.console_url}")
        if plan.console_token:
            sep = "&" if "?" in self.console_url else "?"
            self.echo(
                f"open once with the token: {self.console_url}{sep}token={plan.console_token}"
            )

    # -- signal check and start -------------------------------------------------------------
    def _signal_check(self, sub: bus.Subscriber) -> dict | None:
        """Wait for the engine's channel quality and enough recorded EEG; print it."""
        plan = self.plan
        engine = self.children["engine"]
        assert self._t_recording is not None
        ready_at = self._t_recording + plan.check_seconds
        if plan.start_after is not None and self._t_sim is not None:
            ready_at = max(ready_at, self._t_sim + plan.start_after)
        deadline = ready_at + 30.0
        status = None
        while time.monotonic() < deadline:
            if self._interrupted:
                raise KeyboardInterrupt
            self._check_children(ended=False)
            if not engine.alive():
                return None
            msg = sub.recv(0.2)
            if msg is not None and msg[0] == "status":
                status = msg[1]
                if status.get("started"):  # started from the console already
                    return status
            if status and status.get("quality") and time.monotonic() >= ready_at:
                break
        if status is None or not status.get("quality"):
            raise NeuroadaptError(
                "signal check: the engine reports no channel quality (is the headset streaming?)"
            )
        self.echo("signal check: " + quality_line(status["quality"]))
        return status

    def _wait_for_start(self, sub: bus.Subscriber, client: bus.CommandClient) -> bool:
        """Start now, or wait for the therapist's start; False if the engine died first."""
        status = self._signal_check(sub)
        if status is None:
            return False
        if status.get("started"):
            return True
        if self.plan.autostart:
            client.request("start", timeout=10.0, source="supervisor")
            return True
        self.echo(f"waiting for start in the console: {self.console_url} (Ctrl-C to stop)")
        engine = self.children["engine"]
        last_quality = quality_line(status["quality"])
        next_line = time.monotonic() + 30.0
        while engine.alive():
            if self._interrupted:
                raise KeyboardInterrupt
            self._check_children(ended=False)
            msg = sub.recv(0.5)
            if msg is None or msg[0] != "status":
                continue
            if msg[1].get("started"):
                return True
            line = quality_line(msg[1].get("quality") or {})
            if line != last_quality or time.monotonic() >= next_line:
                self.echo("signal: " + line)
                last_quality, next_line = line, time.monotonic() + 30.0
        return False

    # -- following the session --------------------------------------------------------------
    def _check_children(self, ended: bool) -> None:
        """Restart a dead scene (during the session); a dead recorder ends the session."""
        recorder = self.children.get("recorder")
        if recorder is not None and not recorder.alive():
            raise NeuroadaptError(f"recorder exited during the session: {recorder.tail()}")
        scene = self.children.get("scene")
        if ended or scene is None or scene.alive():
            return
        if self.scene_restarts >= MAX_SCENE_RESTARTS:
            raise NeuroadaptError(
                f"the scene died {self.scene_restarts + 1} times; giving "
                f"up (log: {scene.log}): {scene.tail()}"
            )
        self.scene_restarts += 1
        code = scene.proc.returncode
        self.spawn(
            "scene", [*self._scene_args, "--join"], log_name=f"scene.restart{self.scene_restarts}"
        )
        self.echo(
            f"scene exited (code {code}); restarted ({self.scene_restarts}/{MAX_SCENE_RESTARTS})"
        )
        self._restarted_scene = True

    def _mark_restart(self, client: bus.CommandClient) -> None:
        if not self._restarted_scene:
            return
        self._restarted_scene = False
        try:
            client.request(
                "marker",
                timeout=5.0,
                event="scene_restarted",
                restarts=self.scene_restarts,
                source="supervisor",
                text=f"scene process restarted ({self.scene_restarts})",
            )
        except bus.BusError as exc:
            self.echo(f"could not mark the scene restart ({exc})")

    def _drive(self, endpoints: dict[str, str]) -> str:
        """Check the signal, start the protocol and follow it until it ends."""
        total = self.plan.loaded.protocol.duration
        sub = bus.Subscriber(endpoints["pub"], ["control", "status"])
        client = bus.CommandClient(endpoints["commands"])
        engine = self.children["engine"]
        try:
            if self._wait_for_start(sub, client):
                self.echo(
                    f"session started: {self.plan.loaded.protocol.protocol.name}, {total:g} s"
                )
            t_start: float | None = None
            next_line = 0.0
            stop_sent = False
            ended = False
            was_held = False
            while engine.alive():
                if self._interrupted and not stop_sent:
                    try:
                        client.request("stop", timeout=5.0, source="supervisor")
                    except bus.BusError:
                        self.stop_child("engine")
                    stop_sent = True
                msg = sub.recv(0.5)
                # After the end message the scene closes by itself; before it, a
                # dead scene is restarted and a dead recorder ends the session.
                self._check_children(ended)
                self._mark_restart(client)
                if msg is None or msg[0] != "control" or msg[1].get("phase") in (None, "waiting"):
                    continue
                ctl = msg[1]
                # After the end or a gentle exit the scene may close by itself.
                ended = ended or bool(ctl.get("end") or ctl.get("gentle_exit"))
                if t_start is None and "phase_elapsed" in ctl:
                    t_start = ctl["t_sample"] - ctl.get("phase_elapsed", 0.0)
                held = ctl.get("hold_reason") in ("stream stalled", "paused")
                now = time.monotonic()
                if (now >= next_line or ctl.get("end") or held != was_held) and t_start:
                    elapsed = ctl["t_sample"] - t_start
                    params = " ".join(
                        f"{k}={v:.2f}" for k, v in ctl["params"].items() if v is not None
                    )
                    why = (
                        f"hold ({ctl['hold_reason']}) "
                        if ctl.get("hold_reason")
                        else ("hold " if ctl.get("hold") else "")
                    )
                    self.echo(
                        f"[{min(elapsed, total):6.1f}/{total:g} s] {ctl['phase']:<10} {why}{params}"
                    )
                    next_line = now + 5.0
                was_held = held
            try:
                engine.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            tail = engine.tail(2)
            for reason, ended_as in (
                ("completed", "completed"),
                ("stopped", "stopped"),
                ("gentle_exit", "gentle exit"),
            ):
                if f"engine ended: {reason}" in tail:
                    return ended_as
            self.echo(
                f"engine died (exit code {engine.proc.returncode}); the session ends "
                f"as crashed, the recording is kept: {tail}"
            )
            return "crashed"
        finally:
            sub.close()
            client.close()

    def _shutdown(self) -> None:
        # The scene ends by itself on the engine's end message; give it a moment.
        scene = self.children.get("scene")
        if scene is not None and scene.alive():
            try:
                scene.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                pass
        self.stop_child("engine")
        self.stop_child("scene")
        if "recorder" in self.children:
            # It waits for LabRecorder's last pull, then finishes the file.
            self.stop_child("recorder", timeout=30.0)
        self.stop_child("simulate")
        for child in self.children.values():
            if child.name == "console" or child.name in self._reported:
                continue
            if child.proc.returncode not in (0, None, -signal.SIGINT, -signal.SIGTERM):
                self.echo(f"{child.name} exited with code {child.proc.returncode}: {child.tail()}")


def quality_line(quality: dict[str, dict], list_all: int = 16) -> str:
    """Per-channel traffic lights on one line.

    Up to ``list_all`` channels each is named (``Fz good, O1 bad (flat)``);
    beyond that only the channels that are not good are (``61 good; bad: O1
    (flat)``), so a 64-channel cap still gives a line a therapist can read.
    """
    if not quality:
        return "no channel quality yet"

    def one(ch: str, q: dict) -> str:
        level, reason = q.get("level", "?"), q.get("reason") or ""
        return f"{ch} {level}" + (f" ({reason})" if reason and level != "good" else "")

    if len(quality) <= list_all:
        return ", ".join(one(ch, q) for ch, q in quality.items())
    good = sum(q.get("level") == "good" for q in quality.values())
    parts = [f"{good} of {len(quality)} channels good"]
    for level in ("fair", "bad", "?"):
        names = [
            f"{ch}" + (f" ({q['reason']})" if q.get("reason") else "")
            for ch, q in quality.items()
            if q.get("level", "?") == level
        ]
        if names:
            parts.append(f"{level}: {', '.join(names)}")
    return "; ".join(parts)


def run_session(plan: SessionPlan) -> Path:
    """Run one supervised session; returns its folder.

    Raises
    ------
    StreamNotFoundError, RecorderError, NeuroadaptError
        When a part cannot start (the session folder keeps the logs).
    """
    return SessionSupervisor(plan).run()


__all__ = [
    "MAX_SCENE_RESTARTS",
    "RecorderError",
    "SessionPlan",
    "SessionSupervisor",
    "StreamNotFoundError",
    "quality_line",
    "run_session",
]

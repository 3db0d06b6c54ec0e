"""Run a whole session: headset (or simulator), engine, scene and recorder.

Each part runs as its own process, started in dependency order and each
checked before the next one starts:

1. the EEG stream (``neuroadapt simulate`` for the demo, or a real headset);
2. the engine, whose LSL outputs announce its bus endpoints;
3. the scene, subscribed to the engine's control messages;
4. the recorder (LabRecorder), collecting every stream of the session;

then the protocol starts, so the recording holds the whole session. At the end
(or on Ctrl-C) the engine ends the protocol, the scene and the recorder are
stopped in that order so the recording keeps every marker, and
``session.json`` says how the session ended.

Children run in their own process groups: a Ctrl-C in the terminal reaches
the supervisor only, which then shuts the others down in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import bus
from .errors import NeuroadaptError, RecorderError, StreamNotFoundError
from .lsl import STREAM_CONTROL, STREAM_FEATURES, STREAM_MARKERS, STREAM_SCENE, bus_endpoints
from .protocol import LoadedProtocol
from .record import session as sess


@dataclass
class Child:
    """A supervised process and its log file."""

    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])


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


class SessionSupervisor:
    """Starts, watches and stops the processes of one session."""

    def __init__(self, plan: SessionPlan, *, echo=print) -> None:
        self.plan = plan
        self.echo = echo
        self.children: dict[str, Child] = {}
        self.session_id = sess.new_session_id()
        self.dir = sess.create_session_dir(plan.out, plan.subject,
                                           plan.loaded.protocol.protocol.name).resolve()
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        (self.dir / "protocol.toml").write_text(plan.protocol_text, encoding="utf-8")
        self.record = sess.session_record(
            session_id=self.session_id, subject=plan.subject,
            protocol_name=plan.loaded.protocol.protocol.name,
            protocol_version=plan.loaded.protocol.protocol.version,
            protocol_sha256=plan.loaded.sha256,
            settings={"scene": plan.scene, "headless": plan.headless,
                      "stream": plan.stream, "simulated": plan.simulate is not None,
                      **plan.settings})
        self._save()
        self._interrupted = False

    # -- processes -----------------------------------------------------------------------
    def _save(self) -> None:
        sess.write_json_atomic(self.dir / "session.json", self.record)

    def spawn(self, name: str, args: list[str]) -> Child:
        log = self.logs / f"{name}.log"
        fh = open(log, "w", encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "neuroadapt", *args], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
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
                raise NeuroadaptError(f"{child.name} exited before {what}: {child.tail()}")
            time.sleep(0.1)
        raise NeuroadaptError(f"{child.name}: waited {timeout:g} s in vain for {what} "
                              f"(log: {child.log})")

    def _resolve(self, child: Child, source_id: str, timeout: float):
        import pylsl

        # A continuous resolver keeps querying in the background; short one-shot
        # resolves in a loop can miss a stream that a single longer wait finds.
        resolver = pylsl.ContinuousResolver(prop="source_id", value=source_id)
        return self._wait(child, f"its stream {source_id!r} appeared",
                          lambda: (resolver.results() or [None])[0], timeout)

    def _log_has(self, child: Child, text: str, timeout: float) -> None:
        self._wait(child, f"'{text}'",
                   lambda: text in child.log.read_text(errors="replace"), timeout)

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
            ended = self._run()
        except KeyboardInterrupt:
            ended = "stopped"
        except NeuroadaptError:
            ended = "failed"
            raise
        finally:
            signal.signal(signal.SIGINT, old)
            signal.signal(signal.SIGTERM, old_term)
            self._shutdown()
            self.record["end"] = sess.now_iso()
            self.record["ended"] = ended
            self._save()
        xdf = self.dir / "session.xdf"
        if xdf.exists():
            try:
                from .record.report import write_report

                report = write_report(self.dir)
                self.echo(f"report: {report}")
            except Exception as exc:  # the recording is safe; a report can be made later
                self.echo(f"report could not be written ({type(exc).__name__}: {exc})")
        self.echo(f"session ({ended}): {self.dir}")
        return self.dir

    def _on_interrupt(self, signum, frame) -> None:
        if not self._interrupted:
            self.echo("\nstopping the session (the recording is kept)...")
        self._interrupted = True

    def _run(self) -> str:
        plan = self.plan
        sid = self.session_id
        stream = dict(plan.stream)
        if plan.simulate is not None:
            sim_id = f"{sid}/eeg"
            sim = self.spawn("simulate", ["simulate", *plan.simulate, "--source-id", sim_id])
            self._resolve(sim, sim_id, plan.resolve_timeout)
            stream = {"source_id": sim_id}
            self.echo(f"headset: simulated ({sim.tail(1)})")
        engine_args = ["engine", "--protocol", str(self.dir / "protocol.toml"),
                       "--session-id", sid, "--pub", "tcp://127.0.0.1:*",
                       "--commands", "tcp://127.0.0.1:*",
                       "--resolve-timeout", str(plan.resolve_timeout)]
        for key, opt in (("name", "--stream"), ("type", "--stream-type"),
                         ("source_id", "--source-id")):
            if key in stream:
                engine_args += [opt, stream[key]]
        engine = self.spawn("engine", engine_args)
        info = self._resolve(engine, f"{sid}/features", plan.resolve_timeout + 10)
        endpoints = bus_endpoints(info)
        self.echo(f"engine: control on {endpoints['pub']}")
        scene_args = ["scene", plan.scene, "--control", endpoints["pub"],
                      "--source-id", f"{sid}/scene"]
        if plan.headless:
            scene_args.append("--headless")
        scene = self.spawn("scene", scene_args)
        self._resolve(scene, f"{sid}/scene", 60.0)
        self.echo(f"scene: {plan.scene} ({'offscreen' if plan.headless else 'window'})")
        eeg_query = ",".join(f"{k}={v}" for k, v in stream.items())
        rec_args = ["record", str(self.dir / "session.xdf"), "--stream", eeg_query]
        for name in (STREAM_FEATURES, STREAM_CONTROL, STREAM_MARKERS):
            rec_args += ["--stream", f"name={name},source_id={sid}/{name.split('-')[1]}"]
        rec_args += ["--stream", f"name={STREAM_SCENE},source_id={sid}/scene"]
        recorder = self.spawn("recorder", rec_args)
        self._log_has(recorder, "recording started: ", 30.0)
        self.record["streams"] = [eeg_query, *rec_args[4::2]]
        self._save()
        self.echo(f"recording: {self.dir / 'session.xdf'}")
        return self._drive(endpoints)

    def _drive(self, endpoints: dict[str, str]) -> str:
        """Start the protocol and follow it until it ends."""
        total = self.plan.loaded.protocol.duration
        sub = bus.Subscriber(endpoints["pub"], ["control"])
        client = bus.CommandClient(endpoints["commands"])
        try:
            client.request("start", timeout=10.0)
            self.echo(f"session started: {self.plan.loaded.protocol.protocol.name}, "
                      f"{total:g} s")
            engine = self.children["engine"]
            t_start: float | None = None
            next_line = 0.0
            stop_sent = False
            ended = False
            while engine.alive():
                if self._interrupted and not stop_sent:
                    try:
                        client.request("stop", timeout=5.0)
                    except bus.BusError:
                        self.stop_child("engine")
                    stop_sent = True
                msg = sub.recv(0.5)
                # After the end message the scene closes by itself; before it, a
                # missing scene or recorder ends the session.
                for name in ("scene", "recorder") if not ended else ("recorder",):
                    child = self.children[name]
                    if not child.alive():
                        raise NeuroadaptError(f"{name} exited during the session: "
                                              f"{child.tail()}")
                if msg is None or msg[1].get("phase") in (None, "waiting"):
                    continue
                ctl = msg[1]
                # After the end or a gentle exit the scene may close by itself.
                ended = ended or bool(ctl.get("end") or ctl.get("gentle_exit"))
                if t_start is None:
                    t_start = ctl["t_sample"] - ctl.get("phase_elapsed", 0.0)
                now = time.monotonic()
                if now >= next_line or ctl.get("end"):
                    elapsed = ctl["t_sample"] - t_start
                    params = " ".join(f"{k}={v:.2f}" for k, v in ctl["params"].items()
                                      if v is not None)
                    self.echo(f"[{min(elapsed, total):6.1f}/{total:g} s] {ctl['phase']:<10} "
                              f"{'hold ' if ctl['hold'] else ''}{params}")
                    next_line = now + 5.0
            engine.proc.wait(5)
            tail = engine.tail(2)
            if "engine ended: completed" in tail:
                return "completed"
            if "engine ended: stopped" in tail:
                return "stopped"
            if "engine ended: gentle_exit" in tail:
                return "gentle exit"
            raise NeuroadaptError(f"engine exited unexpectedly: {tail}")
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
            time.sleep(1.0)  # LabRecorder pulls the last chunks before it stops
            self.stop_child("recorder", timeout=30.0)
        self.stop_child("simulate")
        for child in self.children.values():
            if child.proc.returncode not in (0, None, -signal.SIGINT, -signal.SIGTERM):
                self.echo(f"{child.name} exited with code {child.proc.returncode}: "
                          f"{child.tail()}")


def run_session(plan: SessionPlan) -> Path:
    """Run one supervised session; returns its folder.

    Raises
    ------
    StreamNotFoundError, RecorderError, NeuroadaptError
        When a part cannot start (the session folder keeps the logs).
    """
    return SessionSupervisor(plan).run()


__all__ = ["RecorderError", "SessionPlan", "SessionSupervisor", "StreamNotFoundError",
           "run_session"]

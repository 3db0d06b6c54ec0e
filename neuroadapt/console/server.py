"""The console's web server: one page, one websocket, the engine's bus behind them.

aiohttp serves the page (``static/``, no external assets), a websocket that
pushes the view model (:mod:`neuroadapt.console.view`) a few times a second
and takes the therapist's actions, and the session's report. Behind it:

- a zmq.asyncio SUB socket on the engine's ``control`` and ``status`` topics;
- the engine's REQ/REP command socket, used through :class:`bus.CommandClient`
  on one worker thread, one request at a time (REQ/REP is lockstep), so the
  event loop never blocks; every command carries ``"source": "console"``;
- optionally a thread reading the applied scene state (LSL ``neuroadapt-scene``),
  re-resolving it when the scene restarts;
- a 1 s poll of ``session.json`` in the session folder (how the session ended).

Security (see :mod:`neuroadapt.console.security`): loopback unless a token is
set, the token on every request, ``Host`` and websocket ``Origin`` checks,
no-cache and Content-Security-Policy headers on every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import zmq
import zmq.asyncio
from aiohttp import WSMsgType, web

from neuroadapt import bus
from neuroadapt.console.security import (
    TOKEN_COOKIE,
    check_listen,
    host_allowed,
    same_origin,
    token_matches,
)
from neuroadapt.console.view import ConsoleRequestError, ConsoleState, client_command
from neuroadapt.errors import ConfigError
from neuroadapt.lsl import STREAM_SCENE

STATIC_DIR = Path(str(files("neuroadapt") / "console" / "static"))
#: Files of the session folder the console may serve (never the recording itself).
REPORT_SUFFIXES = frozenset({".html", ".png", ".svg", ".jpg", ".jpeg", ".css"})
COMMAND_TIMEOUT = 3.0
PUSH_INTERVAL = 0.25  # s between view pushes while something changed
SCENE_PUSH_INTERVAL = 0.1  # s: the scene sends 60+ frames/s; the page needs far fewer

_CSP_PAGE = (
    "default-src 'self'; connect-src 'self' {ws}; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The report is one self-contained HTML file: inline style, embedded PNGs, no script.
_CSP_REPORT = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_LABELS = {
    "start": "Start",
    "pause": "Pause",
    "resume": "Resume",
    "stop": "Stop",
    "gentle_exit": "Gentle exit",
    "marker": "Note",
    "set": "Difficulty",
}


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the console listens and what it talks to.

    Attributes
    ----------
    pub, commands : str
        The engine's zmq PUB and REP endpoints.
    session : Path or None
        Session folder (``session.json``, ``report.html``).
    host, port : str, int
        Where to listen; port 0 picks a free one.
    scene_source_id : str or None
        ``source_id`` of the scene's ``neuroadapt-scene`` stream to mirror.
    token : str or None
        Required on every request when set (from ``NEUROADAPT_CONSOLE_TOKEN``).
    """

    pub: str = bus.DEFAULT_PUB
    commands: str = bus.DEFAULT_COMMANDS
    session: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    scene_source_id: str | None = None
    token: str | None = None


def session_file(root: Path, relative: str) -> Path | None:
    """A file inside ``root`` that may be served, or None (traversal, links out, other types).

    Parameters
    ----------
    root : Path
        The session folder.
    relative : str
        The path asked for, relative to ``root``.
    """
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        return None
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or path.suffix.lower() not in REPORT_SUFFIXES:
        return None
    return path if path.is_file() else None


def _forbidden(reason: str) -> web.Response:
    page = (
        "<!doctype html><meta charset='utf-8'><title>neuroadapt console</title>"
        f"<h1>neuroadapt console</h1><p>{reason}</p>"
    )
    return web.Response(status=403, text=page, content_type="text/html")


class Console:
    """The console server; :meth:`run` serves until :meth:`stop` (or a signal)."""

    def __init__(self, config: ConsoleConfig) -> None:
        check_listen(config.host, config.token)
        self.config = config
        self.state = ConsoleState(scene_configured=config.scene_source_id is not None)
        self.clients: set[web.WebSocketResponse] = set()
        self.url: str | None = None
        self._dirty = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-req")
        self._client: bus.CommandClient | None = None
        self._zctx = zmq.asyncio.Context()
        self._threads_stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._report_exists = False
        self._actions: set[asyncio.Future] = set()

    # -- HTTP ----------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/report", self._report_redirect)
        app.router.add_get("/report/", self._report)
        app.router.add_get("/report/{path:.+}", self._report)
        app.on_response_prepare.append(self._headers)
        app.on_shutdown.append(self._close_clients)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if not host_allowed(request.host):
            return _forbidden("This console answers only to localhost or an IP address.")
        token = self.config.token
        if token is None:
            return await handler(request)
        given = request.query.get("token")
        if given is not None and token_matches(given, token):
            if request.path == "/ws":
                return await handler(request)
            # Set the cookie, then drop the token from the address bar and history.
            query = {k: v for k, v in request.query.items() if k != "token"}
            location = str(request.rel_url.with_query(query))
            response = web.HTTPFound(location)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        if token_matches(request.cookies.get(TOKEN_COOKIE), token):
            return await handler(request)
        return _forbidden(
            "This console needs its access token: open the address given "
            "to you with ?token=... once."
        )

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/report"):
            response.headers["Content-Security-Policy"] = _CSP_REPORT
        else:
            ws = f"ws://{request.host}" if host_allowed(request.host) else ""
            response.headers["Content-Security-Policy"] = _CSP_PAGE.format(ws=ws).replace("  ", " ")

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        allowed = {p.name for p in STATIC_DIR.iterdir() if p.is_file()}
        if name not in allowed:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name)

    async def _report_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/report/")

    async def _report(self, request: web.Request) -> web.StreamResponse:
        if self.config.session is None:
            raise web.HTTPNotFound(text="no session folder was given to the console")
        path = session_file(self.config.session, request.match_info.get("path", "report.html"))
        if path is None:
            raise web.HTTPNotFound(text="no such report file (yet)")
        return web.FileResponse(path)

    # -- websocket -----------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not same_origin(request.headers.get("Origin"), request.host):
            return _forbidden("Websocket refused: it must come from the console's own page.")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=16 * 1024)
        await ws.prepare(request)
        self.clients.add(ws)
        try:
            await ws.send_json({"type": "view", "view": self._view()})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(req, dict):
                    task = asyncio.ensure_future(self._act(req))
                    self._actions.add(task)  # keep a reference until it is done
                    task.add_done_callback(self._actions.discard)
        finally:
            self.clients.discard(ws)
        return ws

    async def _act(self, req: dict) -> None:
        """Run one page request against the engine and tell every page the answer."""
        action = str(req.get("action"))
        try:
            cmd, body = client_command(req)
        except ConsoleRequestError as exc:
            await self._broadcast(
                {
                    "type": "reply",
                    "action": action,
                    "ok": False,
                    "message": str(exc),
                    "id": req.get("id"),
                }
            )
            return
        ok, message = await self.command(cmd, body)
        await self._broadcast(
            {"type": "reply", "action": action, "ok": ok, "message": message, "id": req.get("id")}
        )

    async def command(self, cmd: str, body: dict) -> tuple[bool, str]:
        """Send one command to the engine (one at a time); returns (accepted, message)."""
        assert self._lock is not None and self._loop is not None
        label = _LABELS.get(cmd, cmd)
        async with self._lock:
            try:
                reply = await self._loop.run_in_executor(
                    self._executor, self._request, cmd, {**body, "source": "console"}
                )
            except bus.BusError as exc:
                text = str(exc).replace(f"{cmd!r} refused: ", f"{label} refused: ")
                return False, text
        detail = {k: v for k, v in reply.items() if k not in ("ok", "v", "t", "seq")}
        if cmd == "set" and "difficulty" in body:
            return True, f"Difficulty set to {body['difficulty']:.2f}"
        if cmd == "gentle_exit":
            return True, f"Gentle exit over {detail.get('duration', body['duration']):g} s"
        done = {
            "start": "Session started",
            "pause": "Paused",
            "resume": "Resumed",
            "stop": "Session stopped",
            "marker": "Note added",
        }
        return True, done.get(cmd, f"{label}: done")

    def _request(self, cmd: str, body: dict) -> dict:
        if self._client is None:
            self._client = bus.CommandClient(self.config.commands)
        return self._client.request(cmd, timeout=COMMAND_TIMEOUT, **body)

    async def _broadcast(self, message: dict) -> None:
        for ws in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(message)

    async def _close_clients(self, app: web.Application) -> None:
        for ws in list(self.clients):
            await ws.close(code=1001, message=b"console stopping")

    def _view(self) -> dict:
        view = self.state.view(time.monotonic())
        view["report_url"] = "/report/" if self._report_exists else None
        view["scene_source_id"] = self.config.scene_source_id
        return view

    # -- inputs --------------------------------------------------------------------------
    async def _listen_bus(self) -> None:
        import pylsl

        sub = self._zctx.socket(zmq.SUB)
        sub.linger = 0
        for topic in bus.TOPICS:
            sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        try:
            sub.connect(self.config.pub)
        except zmq.ZMQError as exc:
            sub.close()
            raise ConfigError(f"--pub {self.config.pub!r}: cannot connect ({exc})") from None
        try:
            while True:
                frames = await sub.recv_multipart()
                try:
                    topic, msg = bus.decode(frames)
                except bus.BusError:
                    continue
                now = time.monotonic()
                if topic == "control":
                    self.state.on_control(msg, now, pylsl.local_clock())
                    if msg.get("end"):
                        await self._push()
                elif topic == "status":
                    self.state.on_status(msg, now)
                self._dirty.set()
        finally:
            sub.close()

    async def _poll_session(self) -> None:
        folder = self.config.session
        assert folder is not None
        while True:
            record_path = folder / "session.json"
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict) and record != self.state.session:
                self.state.on_session(record)
                self._dirty.set()
            exists = (folder / "report.html").is_file()
            if exists != self._report_exists:
                self._report_exists = exists
                self._dirty.set()
            await asyncio.sleep(1.0)

    def _read_scene(self, source_id: str) -> None:
        """Thread: mirror the scene's applied state; re-resolve when the scene goes away."""
        while not self._threads_stop.is_set():
            try:
                self._mirror_scene_once(source_id)
            except Exception as exc:  # keep mirroring: the scene may come back
                print(
                    f"console: scene mirror: {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
                self._threads_stop.wait(1.0)

    def _mirror_scene_once(self, source_id: str) -> None:
        """Resolve the scene stream and read it until it is lost or the console stops."""
        import pylsl
        from pylsl.util import LostError

        from neuroadapt.lsl import channel_labels

        infos = [
            i
            for i in pylsl.resolve_byprop("source_id", source_id, 1, 1.0)
            if i.name() == STREAM_SCENE
        ]
        if not infos:
            return
        inlet = pylsl.StreamInlet(infos[0], max_buflen=2, recover=False)
        try:
            labels = channel_labels(inlet.info(2.0))
            last_push = 0.0
            while not self._threads_stop.is_set():
                sample, _ = inlet.pull_sample(timeout=0.5)
                now = time.monotonic()
                if sample is None or now - last_push < SCENE_PUSH_INTERVAL:
                    continue
                last_push = now
                params = dict(zip(labels, sample, strict=False))
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._on_scene, params)
        except (LostError, TimeoutError):
            return  # the scene closed or restarts: resolve it again
        finally:
            inlet.close_stream()

    def _on_scene(self, params: dict) -> None:
        self.state.on_scene(params, time.monotonic())
        self._dirty.set()

    # -- output --------------------------------------------------------------------------
    async def _push(self) -> None:
        if self.clients:
            await self._broadcast({"type": "view", "view": self._view()})

    async def _pusher(self) -> None:
        """Send the view when something changed (at most 4/s), and at least once a second."""
        last = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=1.0)
            self._dirty.clear()
            await self._push()
            now = time.monotonic()
            await asyncio.sleep(max(0.0, PUSH_INTERVAL - (now - last)))
            last = time.monotonic()

    # -- life cycle ----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to return (thread- and signal-safe)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until :meth:`stop`, SIGINT or SIGTERM; ``ready(url)`` once listening.

        Raises
        ------
        ConfigError
            If the address cannot be listened on or an endpoint is malformed.
        """
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._stop.set)
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, shutdown_timeout=1.0)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"--host {self.config.host} --port {self.config.port}: cannot "
                f"listen ({exc.strerror or exc})"
            ) from None
        host, port = runner.addresses[0][:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        coros = [self._listen_bus(), self._pusher()]
        if self.config.session is not None:
            coros.append(self._poll_session())
        tasks = [asyncio.ensure_future(c) for c in coros]
        scene = None
        if self.config.scene_source_id:
            scene = threading.Thread(
                target=self._read_scene,
                args=(self.config.scene_source_id,),
                name="console-scene",
                daemon=True,
            )
            scene.start()
        if ready is not None:
            ready(self.url)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()
        finally:
            self._threads_stop.set()
            for task in (stopper, *tasks):
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)
            await runner.cleanup()
            self._executor.submit(self._close_client).result(timeout=5)
            self._executor.shutdown(wait=False)
            self._zctx.term()
            if scene is not None:
                scene.join(3.0)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["Console", "ConsoleConfig", "session_file"]

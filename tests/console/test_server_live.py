"""`neuroadapt console` as a real process against a real engine, and its security."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import pylsl
import pytest

from neuroadapt.sources.lsl_inlet import resolve_stream
from tests.console.conftest import console, lan_address, listening_addresses

pytestmark = pytest.mark.live
TOKEN = "test-token-0123456789abcdef"


async def views_and_reply(url: str, request: dict, timeout: float = 20.0):
    """Collect views until status and control have both arrived, send a request, get its reply."""
    origin = url.rstrip("/")
    views, reply = [], None
    async with aiohttp.ClientSession() as http, http.ws_connect(url + "ws", origin=origin) as ws:
        deadline = time.monotonic() + timeout
        sent = False
        while time.monotonic() < deadline and reply is None:
            msg = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
            if msg["type"] == "view":
                views.append(msg["view"])
                v = msg["view"]
                if not sent and v["channels"] and v["phase"]["name"] and v["feedback"]["features"]:
                    await ws.send_json(request)
                    sent = True
            elif msg["type"] == "reply":
                reply = msg
    return views, reply


@pytest.mark.timeout(90)
def test_console_shows_the_engine_and_its_commands_reach_it(engine_run):
    markers = pylsl.StreamInlet(resolve_stream(source_id=f"{engine_run.uid}/markers", timeout=10))
    markers.open_stream(5)
    proc, url = console("--pub", engine_run.pub, "--commands", engine_run.commands)
    try:
        # Bound to loopback only: the one listening socket is 127.0.0.1.
        port = urlsplit(url).port
        assert urlsplit(url).hostname == "127.0.0.1"
        assert listening_addresses(port) == {"0100007F"}
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
            assert r.headers["Content-Security-Policy"].startswith("default-src 'self';")
            assert r.headers["Cache-Control"] == "no-store"
            page = r.read().decode()
        assert "<title>neuroadapt console</title>" in page
        assert "http" not in page  # nothing from the network: no CDN, no web fonts

        views, reply = asyncio.run(views_and_reply(url, {"action": "note", "text": "console hi"}))
        assert views[0]["engine"] in ("waiting", "connected")
        last = views[-1]
        assert last["engine"] == "connected" and last["stream"]["state"] == "ok"
        assert [c["name"] for c in last["channels"]] == [
            "Fz",
            "C3",
            "Cz",
            "C4",
            "Pz",
            "O1",
            "Oz",
            "O2",
        ]
        assert all(c["light"] in ("green", "amber", "red") for c in last["channels"])
        assert last["phase"]["name"] == "waiting"  # the engine waits for start
        assert dict(last["feedback"]["features"])["alpha_rel"] > 0
        assert last["latency_ms"] is not None and 0 <= last["latency_ms"] < 2000
        assert reply == {
            "type": "reply",
            "action": "note",
            "ok": True,
            "message": "Note added",
            "id": None,
        }
        # The engine recorded the note as a marker, with its source.
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m.get("text") == "console hi" for m in got):
            chunk, _ = markers.pull_chunk(timeout=0.5)
            got += [json.loads(s[0]) for s in chunk]
        note = next(m for m in got if m.get("text") == "console hi")
        assert note["event"] == "note" and note["source"] == "console"
        # A refused command comes back as a readable refusal.
        _, refused = asyncio.run(views_and_reply(url, {"action": "resume"}))
        assert refused["ok"] is False and refused["message"].startswith("Resume refused: ")
        _, bad = asyncio.run(views_and_reply(url, {"action": "difficulty", "value": 3}))
        assert bad["ok"] is False and "use 0 to 1" in bad["message"]
    finally:
        assert proc.stop(signal.SIGTERM) == 0, proc.output()
    assert "console stopped" in proc.output()


def test_websocket_from_another_origin_is_refused(engine_run):
    proc, url = console("--pub", engine_run.pub, "--commands", engine_run.commands)

    async def attempt(origin: str | None) -> int:
        headers = {"Origin": origin} if origin else {}
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(url + "ws", headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    try:
        assert asyncio.run(attempt("http://evil.example")) == 403
        assert asyncio.run(attempt(None)) == 403
        assert asyncio.run(attempt(url.rstrip("/"))) == 101
        # DNS rebinding: a page served under another name that resolves to us.
        port = urlsplit(url).port
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                f"Host: evil.example:{port}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert out == "403"
    finally:
        assert proc.stop() == 0


def test_beyond_loopback_without_token_is_refused_at_start():
    env = {k: v for k, v in os.environ.items() if k != "NEUROADAPT_CONSOLE_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "neuroadapt", "console", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuroadapt: error: --host 0.0.0.0: ")
    assert "NEUROADAPT_CONSOLE_TOKEN" in lines[0] and "console:" not in proc.stdout


async def _token_checks(url: str) -> None:
    base = url.rstrip("/")
    # unsafe=True: keep cookies from an IP address, as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in ("/", "/static/console.js", "/report/", f"/?token={TOKEN}x"):
            async with http.get(base + path, allow_redirects=False) as r:
                assert r.status == 403, path
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(base + "/ws", origin=base)
        assert exc.value.status == 403
        async with http.get(f"{base}/?token={TOKEN}", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(base + "/") as r:  # the cookie now
            assert r.status == 200
        async with http.ws_connect(base + "/ws", origin=base) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "view"


def test_with_a_token_every_request_needs_it(tmp_path):
    (tmp_path / "report.html").write_text("<html><body>the report</body></html>")
    (tmp_path / "session.xdf").write_bytes(b"XDF:secret")
    (tmp_path.parent / "outside.html").write_text("outside")
    proc, url = console("--session", str(tmp_path), env={"NEUROADAPT_CONSOLE_TOKEN": TOKEN})
    try:
        asyncio.run(_token_checks(url))

        async def report() -> None:
            base = url.rstrip("/")
            async with aiohttp.ClientSession(cookies={"neuroadapt_console": TOKEN}) as http:
                async with http.get(base + "/report") as r:
                    assert r.status == 200 and "the report" in await r.text()
                    assert "script-src 'none'" in r.headers["Content-Security-Policy"]
                for path in (
                    "/report/session.xdf",
                    "/report/%2e%2e/outside.html",
                    "/report/..%2foutside.html",
                ):
                    async with http.get(base + path) as r:
                        assert r.status == 404, path

        asyncio.run(report())
    finally:
        assert proc.stop() == 0


def test_lan_console_needs_the_token():
    addr = lan_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address (hostname -I)")
    proc, url = console("--host", addr, env={"NEUROADAPT_CONSOLE_TOKEN": TOKEN})
    try:
        assert urlsplit(url).hostname == addr
        asyncio.run(_token_checks(url))
    finally:
        assert proc.stop() == 0


@pytest.mark.timeout(60)
def test_scene_mirror_follows_a_restarted_scene(uid):
    from neuroadapt.lsl import STREAM_SCENE, make_stream_info

    def scene_outlet(fog: float):
        outlet = pylsl.StreamOutlet(
            make_stream_info(
                STREAM_SCENE,
                "SceneState",
                ["fog_density", "frame_time_ms"],
                0.0,
                "float32",
                f"{uid}/scene",
            )
        )
        stop = threading.Event()

        def push():
            while not stop.wait(0.02):
                outlet.push_sample([fog, 16.7])

        thread = threading.Thread(target=push, daemon=True)
        thread.start()
        return outlet, stop, thread

    async def wait_scene(url: str, fog: float, timeout: float = 20.0) -> dict:
        base = url.rstrip("/")
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(base + "/ws", origin=base) as ws,
        ):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
                scene = msg.get("view", {}).get("scene", {})
                if scene.get("source") == "scene" and dict(scene["params"]).get(
                    "fog_density"
                ) == pytest.approx(fog):
                    return scene
        raise AssertionError(f"the console did not mirror fog_density={fog}")

    first = scene_outlet(0.25)
    proc, url = console("--pub", "tcp://127.0.0.1:9", "--scene-source-id", f"{uid}/scene")
    try:
        scene = asyncio.run(wait_scene(url, 0.25))
        assert dict(scene["params"])["frame_time_ms"] == pytest.approx(16.7, abs=1e-3)
        # The scene restarts: its stream goes away and a new one appears.
        first[1].set()
        first[2].join(2)
        del first
        second = scene_outlet(0.75)
        asyncio.run(wait_scene(url, 0.75, timeout=30))
        second[1].set()
    finally:
        assert proc.stop() == 0

"""Real processes for the console tests: simulator, engine, recorder and console.

Every process is ``python -m neuroadapt ...`` in its own process group, with
the machine-scope LSL configuration inherited from ``tests/conftest.py``;
its output is read line by line on a thread, so tests wait for a line with a
deadline instead of sleeping.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest


class Proc:
    """A ``neuroadapt`` subprocess whose output lines can be awaited."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        full_env = dict(os.environ, NEUROADAPT_HEADLESS="1", PYTHONUNBUFFERED="1", **(env or {}))
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neuroadapt", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=full_env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first output line matching ``pattern`` (a regex), within ``timeout`` s."""
        rx = re.compile(pattern)
        for line in self.lines:
            if m := rx.search(line):
                return m
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(
                    f"{self.args[0]} exited ({self.proc.wait()}) before "
                    f"{pattern!r}: {self.output()}"
                )
            self.lines.append(line)
            if m := rx.search(line):
                return m
        raise AssertionError(f"{self.args[0]}: no {pattern!r} within {timeout} s: {self.output()}")

    def output(self) -> str:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return " | ".join(self.lines[-15:])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
        """Signal the process and wait; kill it if it does not end in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


class EngineRun:
    """A simulated headset and an engine waiting for ``start``, with their endpoints."""

    def __init__(self, uid: str, protocol: str = "alpha_relax") -> None:
        self.uid = uid
        self.sim = Proc("simulate", "--source-id", f"{uid}-eeg", "--seed", "1")
        self.engine = Proc(
            "engine",
            "--protocol",
            protocol,
            "--source-id",
            f"{uid}-eeg",
            "--session-id",
            uid,
            "--pub",
            "tcp://127.0.0.1:*",
            "--commands",
            "tcp://127.0.0.1:*",
            "--resolve-timeout",
            "20",
        )
        m = self.engine.wait_for(r"control on (\S+), commands on (\S+)", 40)
        self.pub, self.commands = m.group(1), m.group(2)

    def close(self) -> None:
        self.engine.stop()
        self.sim.stop()


@pytest.fixture(scope="module")
def engine_run() -> Iterator[EngineRun]:
    """One simulator + engine for a test module (a unique source id)."""
    run = EngineRun(uuid.uuid4().hex[:10])
    yield run
    run.close()


def console(*args: str, env: dict | None = None) -> tuple[Proc, str]:
    """Start ``neuroadapt console`` and return it with its URL once it listens."""
    proc = Proc("console", *args, env=env)
    url = proc.wait_for(r"console: (http://\S+)", 30).group(1)
    return proc, url


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                out.add(addr)
    return out


def lan_address() -> str | None:
    """A non-loopback IPv4 address of this machine (``hostname -I``), if any."""
    try:
        text = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for addr in text.split():
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", addr) and not addr.startswith("127."):
            return addr
    return None

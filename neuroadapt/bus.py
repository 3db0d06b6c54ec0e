"""The control plane: ZeroMQ messages between engine, scene and console.

Every message is a multipart ``[topic, json]`` whose JSON object carries
``"v"`` (message schema version), ``"t"`` (LSL clock at send time) and
``"seq"`` (per-sender sequence number). Nothing is ever pickled.

Topics on the engine's PUB socket: ``control`` (scene parameters, ``hold``,
``phase``, ``feedback``), ``status`` (stream state, latency). Commands go over
REQ/REP: ``start``, ``pause``, ``resume``, ``stop``, ``gentle_exit``,
``marker``, ``set``.

Sockets bind to 127.0.0.1 by default. Binding any other interface requires
CURVE keys (health data never crosses a network in clear text).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import zmq

from neuroadapt.errors import ConfigError, NeuroadaptError

SCHEMA_VERSION = 1
TOPICS = ("control", "status")
COMMANDS = ("start", "pause", "resume", "stop", "gentle_exit", "marker", "set", "ping")

DEFAULT_PUB = "tcp://127.0.0.1:5710"
DEFAULT_COMMANDS = "tcp://127.0.0.1:5711"


class BusError(NeuroadaptError):
    """A message could not be decoded or a peer did not answer."""


def _clock() -> float:
    import pylsl

    return pylsl.local_clock()


def encode(topic: str, payload: dict, seq: int, t: float | None = None) -> list[bytes]:
    """Frame a message as ``[topic, json]`` with ``v``, ``t`` and ``seq`` set.

    Parameters
    ----------
    topic : str
        Message topic.
    payload : dict
        JSON-serialisable content; must not use the keys ``v``, ``t``, ``seq``.
    seq : int
        Sequence number of this sender.
    t : float, optional
        LSL time of the message; defaults to ``pylsl.local_clock()``.
    """
    body = {"v": SCHEMA_VERSION, "t": _clock() if t is None else float(t), "seq": int(seq)}
    clash = body.keys() & payload.keys()
    if clash:
        raise ValueError(f"payload must not set reserved keys {sorted(clash)}")
    body.update(payload)
    # allow_nan=False: NaN is not JSON; senders replace it with None first.
    return [topic.encode(), json.dumps(body, allow_nan=False, separators=(",", ":")).encode()]


def decode(frames: list[bytes]) -> tuple[str, dict]:
    """Parse a ``[topic, json]`` message and check its envelope.

    Raises
    ------
    BusError
        If the frames are not a valid version-1 message.
    """
    if len(frames) != 2:
        raise BusError(f"expected 2 frames [topic, json], got {len(frames)}")
    try:
        topic = frames[0].decode()
        body = json.loads(frames[1])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusError(f"undecodable message: {exc}") from None
    if not isinstance(body, dict) or body.get("v") != SCHEMA_VERSION:
        raise BusError(f"message on {topic!r} has no 'v': {SCHEMA_VERSION}")
    if not isinstance(body.get("seq"), int) or not isinstance(body.get("t"), int | float):
        raise BusError(f"message on {topic!r} lacks 't' or 'seq'")
    return topic, body


def finite_or_none(x: float) -> float | None:
    """JSON has no NaN: map non-finite floats to ``None``."""
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class CurveKeys:
    """CURVE key pair (Z85 bytes) for a socket bound to a non-loopback interface."""

    public: bytes
    secret: bytes


def check_bind_address(address: str, curve: CurveKeys | None = None) -> None:
    """Refuse a non-loopback TCP bind without CURVE encryption.

    Raises
    ------
    ConfigError
        When the address is not ``tcp://HOST:PORT`` or binds beyond loopback
        without keys.
    """
    parts = urlsplit(address)
    if parts.scheme in ("ipc", "inproc"):
        return
    if parts.scheme != "tcp" or not parts.hostname:
        raise ConfigError(f"bus address {address!r}: expected tcp://HOST:PORT")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and curve is None:
        raise ConfigError(
            f"bus address {address!r}: binding beyond loopback needs CURVE keys "
            "(health data must not cross a network unencrypted)"
        )


def _bind(sock: zmq.Socket, address: str, curve: CurveKeys | None) -> str:
    check_bind_address(address, curve)
    if curve is not None:
        sock.curve_secretkey = curve.secret
        sock.curve_publickey = curve.public
        sock.curve_server = True
    try:
        sock.bind(address)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise ConfigError(f"bus address {address!r}: cannot bind ({exc})") from None
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


class Publisher:
    """PUB socket that stamps ``v``, ``t`` and ``seq`` on every message.

    Parameters
    ----------
    address : str
        Where to bind, e.g. ``tcp://127.0.0.1:5710``; port ``*`` picks a free one
        (see :attr:`address` for the actual endpoint).
    curve : CurveKeys, optional
        Required to bind beyond loopback.
    """

    def __init__(
        self,
        address: str = DEFAULT_PUB,
        *,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        ctx = context or zmq.Context.instance()
        self._sock = ctx.socket(zmq.PUB)
        self._sock.linger = 0
        self._sock.sndhwm = 1000
        self.address = _bind(self._sock, address, curve)
        self._seq = 0

    def publish(self, topic: str, payload: dict, t: float | None = None) -> int:
        """Send one message; returns its sequence number."""
        seq = self._seq
        self._sock.send_multipart(encode(topic, payload, seq, t))
        self._seq += 1
        return seq

    def close(self) -> None:
        self._sock.close(linger=0)


class Subscriber:
    """SUB socket connected to a publisher, with bounded waits.

    Parameters
    ----------
    address : str
        Publisher endpoint to connect to.
    topics : iterable of str
        Topics to receive (prefix match, as zmq does).
    server_key : bytes, optional
        The publisher's CURVE public key when it binds beyond loopback.
    """

    def __init__(
        self,
        address: str = DEFAULT_PUB,
        topics: Iterable[str] = TOPICS,
        *,
        server_key: bytes | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        ctx = context or zmq.Context.instance()
        self._sock = ctx.socket(zmq.SUB)
        self._sock.linger = 0
        if server_key is not None:
            pub, sec = zmq.curve_keypair()
            self._sock.curve_serverkey = server_key
            self._sock.curve_publickey = pub
            self._sock.curve_secretkey = sec
        for topic in topics:
            self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._sock.connect(address)
        self.address = address
        self.dropped = 0  # undecodable messages ignored

    def recv(self, timeout: float) -> tuple[str, dict] | None:
        """Wait up to ``timeout`` seconds for one message; ``None`` if none came."""
        if not self._sock.poll(int(timeout * 1000)):
            return None
        return self._decode(self._sock.recv_multipart())

    def drain(self) -> list[tuple[str, dict]]:
        """Every message already queued, oldest first, without waiting."""
        out = []
        while True:
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return [m for m in out if m is not None]
            out.append(self._decode(frames))

    def _decode(self, frames: list[bytes]) -> tuple[str, dict] | None:
        try:
            return decode(frames)
        except BusError:
            self.dropped += 1
            return None

    def close(self) -> None:
        self._sock.close(linger=0)


class CommandServer:
    """REP socket answering ``{"cmd": ..., ...}`` requests without blocking the caller.

    Parameters
    ----------
    address : str
        Where to bind (loopback unless ``curve`` is given).
    """

    def __init__(
        self,
        address: str = DEFAULT_COMMANDS,
        *,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        ctx = context or zmq.Context.instance()
        self._sock = ctx.socket(zmq.REP)
        self._sock.linger = 0
        self.address = _bind(self._sock, address, curve)
        self._seq = 0

    def poll(self, handler, timeout: float = 0.0) -> bool:
        """Answer at most one pending request with ``handler(cmd, body) -> dict``.

        A malformed request or an unknown command is answered with
        ``{"ok": false, "error": ...}``; the handler's own
        :class:`~neuroadapt.errors.NeuroadaptError` becomes such an answer too.
        Returns True if a request was handled.
        """
        if not self._sock.poll(int(timeout * 1000)):
            return False
        frames = self._sock.recv_multipart()
        try:
            topic, body = decode(frames)
            cmd = body.get("cmd")
            if topic != "commands" or cmd not in COMMANDS:
                raise BusError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
            reply = {"ok": True, **(handler(cmd, body) or {})}
        except NeuroadaptError as exc:
            reply = {"ok": False, "error": str(exc)}
        self._sock.send_multipart(encode("commands", reply, self._seq))
        self._seq += 1
        return True

    def close(self) -> None:
        self._sock.close(linger=0)


class CommandClient:
    """REQ client with a timeout; a lost reply resets the socket (lazy pirate)."""

    def __init__(
        self, address: str = DEFAULT_COMMANDS, *, context: zmq.Context | None = None
    ) -> None:
        self._ctx = context or zmq.Context.instance()
        self.address = address
        self._seq = 0
        self._sock = self._connect()

    def _connect(self) -> zmq.Socket:
        sock = self._ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.connect(self.address)
        return sock

    def request(self, cmd: str, timeout: float = 5.0, **args) -> dict:
        """Send a command and wait at most ``timeout`` seconds for the reply.

        Raises
        ------
        BusError
            If no reply came in time or the reply says the command failed.
        """
        self._sock.send_multipart(encode("commands", {"cmd": cmd, **args}, self._seq))
        self._seq += 1
        if not self._sock.poll(int(timeout * 1000)):
            self._sock.close(linger=0)
            self._sock = self._connect()
            raise BusError(f"no answer to {cmd!r} from {self.address} within {timeout:g} s")
        _, reply = decode(self._sock.recv_multipart())
        if not reply.get("ok"):
            raise BusError(f"{cmd!r} refused: {reply.get('error', 'unknown error')}")
        return reply

    def close(self) -> None:
        self._sock.close(linger=0)

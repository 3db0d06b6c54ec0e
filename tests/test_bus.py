"""The zmq control plane with real sockets on loopback."""

from __future__ import annotations

import json
import threading

import pytest
import zmq

from neuroadapt import bus
from neuroadapt.errors import ConfigError, NeuroadaptError


def test_encode_decode_envelope():
    frames = bus.encode("control", {"params": {"fog_density": 0.5}}, seq=7, t=12.5)
    assert frames[0] == b"control"
    body = json.loads(frames[1])
    assert body == {"v": 1, "t": 12.5, "seq": 7, "params": {"fog_density": 0.5}}
    assert bus.decode(frames) == ("control", body)


@pytest.mark.parametrize(
    "frames",
    [
        [b"control"],
        [b"control", b"not json"],
        [b"control", b'{"t": 1, "seq": 0}'],
        [b"control", b'{"v": 2, "t": 1, "seq": 0}'],
        [b"control", b'{"v": 1, "seq": 0}'],
    ],
)
def test_decode_rejects_bad_messages(frames):
    with pytest.raises(bus.BusError):
        bus.decode(frames)


def test_reserved_keys_and_nan_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        bus.encode("control", {"seq": 1}, 0)
    with pytest.raises(ValueError):
        bus.encode("control", {"x": float("nan")}, 0)
    assert bus.finite_or_none(float("inf")) is None


@pytest.mark.parametrize(
    "address", ["tcp://0.0.0.0:5999", "tcp://192.168.1.10:5999", "tcp://eth0:5999"]
)
def test_non_loopback_bind_needs_curve_keys(address):
    with pytest.raises(ConfigError, match="CURVE"):
        bus.check_bind_address(address)
    pub, sec = zmq.curve_keypair()
    bus.check_bind_address(address, bus.CurveKeys(pub, sec))  # allowed with keys


def test_loopback_addresses_are_fine():
    for address in ("tcp://127.0.0.1:1", "tcp://localhost:1", "tcp://[::1]:1", "ipc:///tmp/x"):
        bus.check_bind_address(address)
    with pytest.raises(ConfigError, match="expected tcp://HOST:PORT"):
        bus.check_bind_address("udp://127.0.0.1:1")


def test_pub_sub_round_trip_with_sequence_numbers():
    pub = bus.Publisher("tcp://127.0.0.1:*")
    sub = bus.Subscriber(pub.address, ["control"])
    try:
        # The subscription needs a moment to reach the publisher (slow joiner):
        # keep publishing until the first message arrives, bounded in time.
        got = None
        for _ in range(200):
            pub.publish("control", {"k": 1})
            got = sub.recv(0.01)
            if got:
                break
        assert got is not None, "no message within 2 s"
        pub.publish("status", {"ignored": True})
        for i in range(5):
            pub.publish("control", {"i": i})
        msgs = []
        for _ in range(50):
            m = sub.recv(0.05)
            if m and "i" in m[1]:
                msgs.append(m)
            if len(msgs) == 5:
                break
        assert [m[1]["i"] for m in msgs] == list(range(5))
        seqs = [m[1]["seq"] for m in msgs]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert all(m[0] == "control" for m in msgs)
        assert all(m[1]["v"] == 1 and isinstance(m[1]["t"], float) for m in msgs)
    finally:
        sub.close()
        pub.close()


def test_curve_encrypted_pub_sub():
    pub_key, sec_key = zmq.curve_keypair()
    pub = bus.Publisher("tcp://127.0.0.1:*", curve=bus.CurveKeys(pub_key, sec_key))
    sub = bus.Subscriber(pub.address, ["control"], server_key=pub_key)
    try:
        got = None
        for _ in range(300):
            pub.publish("control", {"secret": 42})
            got = sub.recv(0.01)
            if got:
                break
        assert got is not None and got[1]["secret"] == 42
    finally:
        sub.close()
        pub.close()


def test_bind_conflict_is_a_clear_error():
    pub = bus.Publisher("tcp://127.0.0.1:*")
    try:
        with pytest.raises(ConfigError, match="cannot bind"):
            bus.Publisher(pub.address)
    finally:
        pub.close()


def test_commands_round_trip_and_errors():
    server = bus.CommandServer("tcp://127.0.0.1:*")
    client = bus.CommandClient(server.address)
    seen = []

    def handler(cmd, body):
        seen.append((cmd, body.get("text")))
        if cmd == "pause":
            raise NeuroadaptError("not now")
        return {"echo": cmd}

    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.poll(handler, timeout=0.01)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert client.request("marker", text="hello", timeout=5)["echo"] == "marker"
        with pytest.raises(bus.BusError, match="'pause' refused: not now"):
            client.request("pause", timeout=5)
        with pytest.raises(bus.BusError, match="unknown command 'dance'"):
            client.request("dance", timeout=5)
        assert seen == [("marker", "hello"), ("pause", None)]
    finally:
        stop.set()
        thread.join(2)
        client.close()
        server.close()


def test_command_timeout_recovers():
    server = bus.CommandServer("tcp://127.0.0.1:*")
    client = bus.CommandClient(server.address)
    stop = threading.Event()
    answered = []

    def serve():
        while not stop.is_set():
            server.poll(lambda c, b: answered.append(c) or {"n": len(answered)}, 0.01)

    try:
        with pytest.raises(bus.BusError, match="no answer to 'ping'"):
            client.request("ping", timeout=0.2)
        # The client replaced its socket; once a server answers, requests work again
        # (the stale request is answered to the old, closed socket and dropped).
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        reply = client.request("ping", timeout=5)
        assert reply["ok"] is True and reply["n"] >= 1
        stop.set()
        thread.join(2)
    finally:
        stop.set()
        client.close()
        server.close()

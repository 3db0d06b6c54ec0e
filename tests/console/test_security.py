"""Hosts, tokens, origins and served files of the console (pure checks)."""

from __future__ import annotations

import pytest

from neuroadapt.console.security import (
    check_listen,
    host_allowed,
    is_loopback,
    same_origin,
    token_matches,
)
from neuroadapt.console.server import session_file
from neuroadapt.errors import ConfigError

TOKEN = "a-long-enough-token-123"


@pytest.mark.parametrize(
    ("host", "loop"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("::", False),
        ("headset-pc.local", False),
    ],
)
def test_loopback(host, loop):
    assert is_loopback(host) is loop


def test_listening_beyond_loopback_needs_a_strong_token():
    check_listen("127.0.0.1", None)
    check_listen("192.168.1.20", TOKEN)
    with pytest.raises(ConfigError, match=r"--host 0.0.0.0: .*NEUROADAPT_CONSOLE_TOKEN"):
        check_listen("0.0.0.0", None)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        check_listen("127.0.0.1", "short")


def test_tokens_compare_exactly():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)
    assert not token_matches("", TOKEN) and not token_matches(None, TOKEN)
    assert not token_matches("é" * 5, TOKEN)  # non-ASCII does not raise


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1:8080", True),
        ("localhost:8080", True),
        ("[::1]:80", True),
        ("192.168.1.20:9000", True),
        ("evil.example:8080", False),
        ("", False),
        (None, False),
        ("127.0.0.1.nip.io:80", False),
    ],
)
def test_host_header_is_localhost_or_an_address(host, ok):
    assert host_allowed(host) is ok


def test_websocket_origin_must_be_the_page():
    assert same_origin("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not same_origin("http://127.0.0.1:8081", "127.0.0.1:8080")
    assert not same_origin("http://evil.example", "127.0.0.1:8080")
    assert not same_origin("null", "127.0.0.1:8080")
    assert not same_origin(None, "127.0.0.1:8080")


def test_only_report_files_inside_the_session_are_served(tmp_path):
    session = tmp_path / "s"
    (session / "plots").mkdir(parents=True)
    (session / "report.html").write_text("r")
    (session / "plots" / "a.png").write_bytes(b"png")
    (session / "session.xdf").write_bytes(b"xdf")
    (session / "session.json").write_text("{}")
    (tmp_path / "other.html").write_text("o")
    (session / "link.html").symlink_to(tmp_path / "other.html")
    assert session_file(session, "report.html") == (session / "report.html").resolve()
    assert session_file(session, "plots/a.png") == (session / "plots" / "a.png").resolve()
    for bad in (
        "session.xdf",
        "session.json",
        "../other.html",
        "plots/../../other.html",
        "/etc/passwd",
        "link.html",
        "missing.html",
        "",
        "report.html\x00.png",
    ):
        assert session_file(session, bad) is None, bad

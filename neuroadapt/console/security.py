"""Who may talk to the console: pure checks of hosts, tokens and origins.

The console is bound to loopback by default. Listening on another interface
(a tablet on the local network) needs a token, given in the environment
variable ``NEUROADAPT_CONSOLE_TOKEN`` (never on the command line, where ``ps``
would show it). With a token set, every request must carry it: once as
``?token=...`` (which sets an HttpOnly, SameSite=Strict cookie), then in the
cookie.

Two browser-side attacks are closed here as well: a page on another site
driving the websocket (cross-site websocket hijacking: the ``Origin`` of an
upgrade must be the console's own), and DNS rebinding (a site whose name
resolves to 127.0.0.1: the ``Host`` header must be ``localhost`` or an IP
address, never another name).
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from neuroadapt.errors import ConfigError

TOKEN_ENV = "NEUROADAPT_CONSOLE_TOKEN"
TOKEN_COOKIE = "neuroadapt_console"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token, or with a weak one.

    Raises
    ------
    ConfigError
        For a non-loopback ``host`` without a token, or a token shorter than
        :data:`MIN_TOKEN_LENGTH` characters.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{TOKEN_ENV}: use at least {MIN_TOKEN_LENGTH} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--host {host}: a console beyond loopback needs a token in "
            f"{TOKEN_ENV} (health data must not be open to the network)"
        )


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def host_allowed(host_header: str | None) -> bool:
    """A ``Host`` header naming ``localhost`` or an IP address (no DNS rebinding)."""
    if not host_header:
        return False
    hostname = urlsplit(f"//{host_header}").hostname
    if not hostname:
        return False
    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """True when a websocket upgrade's ``Origin`` is ``http://<Host>`` (the console's page)."""
    if not origin or not host_header:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


__all__ = [
    "MIN_TOKEN_LENGTH",
    "TOKEN_COOKIE",
    "TOKEN_ENV",
    "check_listen",
    "host_allowed",
    "is_loopback",
    "same_origin",
    "token_matches",
]

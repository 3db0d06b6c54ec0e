"""Where shipped resources (protocols, scenes, headset profiles) are found.

A name is looked up in the folders of an environment variable
(``NEUROADAPT_PROTOCOLS``, ...), then ``./<kind>/`` of the current directory,
then the project's own top-level folder; a path is used as given.
"""

from __future__ import annotations

import os
from pathlib import Path

from neuroadapt.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def search_path(kind: str) -> list[Path]:
    """Folders searched for ``kind`` (``protocols``, ``scenes``, ``eeg``), in order."""
    env = os.environ.get(f"NEUROADAPT_{kind.upper()}", "")
    dirs = [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path.cwd() / kind, PROJECT_ROOT / kind]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def find_protocol(name_or_path: str) -> Path:
    """Resolve a protocol given as a path or as a shipped name (``alpha_relax``).

    Raises
    ------
    ConfigError
        Naming the protocols that are available.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or os.sep in name_or_path:
        return path
    available: list[str] = []
    for d in search_path("protocols"):
        candidate = d / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
        available += sorted(p.stem for p in d.glob("*.toml"))
    raise ConfigError(
        f"protocol {name_or_path!r} not found; available: "
        f"{', '.join(dict.fromkeys(available)) or 'none'}"
    )

"""Scene manifests: what a scene lets a protocol drive.

Every scene lives in a folder ``scenes/<name>/`` holding ``scene.py`` and a
``scene.toml`` manifest::

    [scene]
    title = "Lagoon at sunset"
    description = "..."

    [[parameters]]
    name = "fog_density"
    description = "0 clear air, 1 dense fog"
    range = [0.0, 1.0]
    default = 0.6
    unit = ""
    max_rate = 0.15   # largest change per second the scene will ever make
    neutral = 0.6     # value for hold / gentle exit; defaults to `default`
    luminance = true  # changes brightness: flicker guarded (the default, for safety)

The protocol validator reads the same manifest to check that every mapped
parameter exists and that mapped ranges fit, so a manifest is validated as a
whole and every problem is reported on its own line, naming the file and the
field (``scenes/lagoon/scene.toml: parameters[1].range: min must be < max``).
Indices in field paths start at 0, as in the protocol validator.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import neuroadapt
from neuroadapt.errors import ConfigError, ManifestError

MANIFEST_FILE = "scene.toml"
SCENE_FILE = "scene.py"
SCENES_ENV = "NEUROADAPT_SCENES"

# The applied-state LSL stream appends this channel after the parameters.
RESERVED_NAMES = frozenset({"frame_time_ms", "dropped_frames"})

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Folder names a plain scene name may take: never "." / ".." or a path.
_SCENE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCENE_KEYS = ("title", "description")
_PARAM_KEYS = (
    "name",
    "description",
    "range",
    "default",
    "unit",
    "max_rate",
    "neutral",
    "luminance",
)
_PARAM_REQUIRED = ("name", "range", "default", "max_rate")


@dataclass(frozen=True)
class SceneParameter:
    """One parameter a scene exposes to protocols.

    Attributes
    ----------
    name : str
        Identifier used in control messages and protocol mappings.
    description : str
        What the parameter does to the scene, for humans.
    range : tuple of float
        ``(min, max)``; values outside are clipped.
    default : float
        Value when the scene starts.
    unit : str
        Unit of the value (empty for dimensionless).
    max_rate : float
        Largest change per second the scene makes, whatever it is asked.
    neutral : float
        Calm value used when feedback is off and at the end of a session.
    luminance : bool
        Whether the parameter can change the picture's brightness; such
        parameters are flicker guarded by the controller. True unless the
        manifest says ``luminance = false`` (a safe default).
    """

    name: str
    description: str
    range: tuple[float, float]
    default: float
    unit: str
    max_rate: float
    neutral: float
    luminance: bool = True

    @property
    def low(self) -> float:
        """Lower end of :attr:`range`."""
        return self.range[0]

    @property
    def high(self) -> float:
        """Upper end of :attr:`range`."""
        return self.range[1]

    def clip(self, value: float) -> float:
        """``value`` limited to :attr:`range`."""
        return min(max(float(value), self.range[0]), self.range[1])


@dataclass(frozen=True)
class SceneManifest:
    """A validated ``scene.toml``.

    Attributes
    ----------
    name : str
        Scene name (its folder name).
    title, description : str
        Human-readable title and summary.
    parameters : tuple of SceneParameter
        In manifest order, which is also the channel order of the applied-state stream.
    path : Path
        The manifest file.
    """

    name: str
    title: str
    description: str
    parameters: tuple[SceneParameter, ...]
    path: Path

    @property
    def folder(self) -> Path:
        """The scene folder (holds ``scene.toml`` and ``scene.py``)."""
        return self.path.parent

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in manifest order."""
        return tuple(p.name for p in self.parameters)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.parameters)

    def __getitem__(self, name: str) -> SceneParameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(
            f"scene {self.name!r} has no parameter {name!r}; it has {', '.join(self.names)}"
        )

    def __iter__(self) -> Iterator[SceneParameter]:
        return iter(self.parameters)

    def defaults(self) -> dict[str, float]:
        """Every parameter at its default value."""
        return {p.name: p.default for p in self.parameters}

    def neutral(self) -> dict[str, float]:
        """Every parameter at its neutral value."""
        return {p.name: p.neutral for p in self.parameters}

    def check_values(self, values: Mapping[str, object], *, label: str = "") -> dict[str, float]:
        """Validate user-given parameter values strictly (no clipping).

        Parameters
        ----------
        values : mapping of str to number
            Parameter name to value, e.g. from ``--set`` on the command line.
        label : str
            Prefix of each error line (e.g. ``"--set "``).

        Returns
        -------
        values : dict of str to float

        Raises
        ------
        ConfigError
            One line per unknown name, non-number or out-of-range value.
        """
        problems: list[str] = []
        out: dict[str, float] = {}
        for name, raw in values.items():
            if name not in self:
                problems.append(
                    f"{label}{name}: unknown parameter of scene {self.name!r}; "
                    f"valid names: {', '.join(self.names)}"
                )
                continue
            param = self[name]
            value = _number(raw)
            lo, hi = param.range
            if value is None:
                problems.append(f"{label}{name}: {raw!r} is not a finite number")
            elif not lo <= value <= hi:
                problems.append(
                    f"{label}{name}: {_fmt(value)} is out of range [{_fmt(lo)}, {_fmt(hi)}]"
                )
            else:
                out[name] = value
        if problems:
            raise ConfigError(problems)
        return out


def load_manifest(path: str | os.PathLike[str]) -> SceneManifest:
    """Read and validate a scene manifest.

    Parameters
    ----------
    path : path-like
        The ``scene.toml`` file, or the scene folder holding it.

    Returns
    -------
    manifest : SceneManifest

    Raises
    ------
    ManifestError
        With one line per problem, each naming the file and the field.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    where = _display(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ManifestError(f"{where}: no such file") from None
    except OSError as exc:
        raise ManifestError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{where}: invalid TOML: {exc}") from None

    problems: list[str] = []

    def bad(field: str, msg: str) -> None:
        problems.append(f"{where}: {field}: {msg}")

    for key in data:
        if key not in ("scene", "parameters"):
            bad(key, "unknown table; expected [scene] and [[parameters]]")

    title, description = "", ""
    scene = data.get("scene")
    if not isinstance(scene, dict):
        bad("scene", "missing [scene] table with a title")
    else:
        for key in scene:
            if key not in _SCENE_KEYS:
                bad(f"scene.{key}", _unknown_field(key, _SCENE_KEYS))
        title = scene.get("title")
        if not isinstance(title, str) or not title.strip():
            bad("scene.title", "must be a non-empty string")
            title = ""
        description = scene.get("description", "")
        if not isinstance(description, str):
            bad("scene.description", "must be a string")
            description = ""

    params: list[SceneParameter] = []
    raw_params = data.get("parameters")
    if raw_params is None:
        bad("parameters", "no [[parameters]]; a scene needs at least one")
        raw_params = []
    elif not isinstance(raw_params, list) or not raw_params:
        bad("parameters", "must be a non-empty array of tables ([[parameters]])")
        raw_params = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_params):
        param = _parse_parameter(raw, f"parameters[{i}]", bad)
        if param is None:
            continue
        if param.name in seen:
            bad(
                f"parameters[{i}].name",
                f"duplicate parameter {param.name!r} (also parameters[{seen[param.name]}])",
            )
            continue
        seen[param.name] = i
        params.append(param)

    if problems:
        raise ManifestError(problems)
    return SceneManifest(
        name=path.parent.name,
        title=title.strip(),
        description=description,
        parameters=tuple(params),
        path=path,
    )


def _parse_parameter(
    raw: object, field: str, bad: Callable[[str, str], None]
) -> SceneParameter | None:
    """Check one ``[[parameters]]`` table; report through ``bad`` and return None on error."""
    if not isinstance(raw, dict):
        bad(field, "must be a table")
        return None
    ok = True

    def fail(key: str, msg: str) -> None:
        nonlocal ok
        ok = False
        bad(f"{field}.{key}" if key else field, msg)

    for key in raw:
        if key not in _PARAM_KEYS:
            fail(key, _unknown_field(key, _PARAM_KEYS))
    for key in _PARAM_REQUIRED:
        if key not in raw:
            fail(key, "missing")

    name = raw.get("name")
    if "name" in raw:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            fail("name", "must be lower_snake_case: a letter, then letters, digits or _")
        elif name in RESERVED_NAMES:
            fail("name", f"{name!r} is reserved (a channel of the applied-state stream)")

    for key in ("description", "unit"):
        if key in raw and not isinstance(raw[key], str):
            fail(key, "must be a string")

    lo = hi = None
    if "range" in raw:
        rng = raw["range"]
        values = [_number(v) for v in rng] if isinstance(rng, list) else []
        if len(values) != 2 or None in values:
            fail("range", "must be [min, max] with two finite numbers")
        elif not values[0] < values[1]:
            fail("range", "min must be < max")
        else:
            lo, hi = values

    def in_range(key: str) -> float | None:
        if key not in raw:
            return None
        value = _number(raw[key])
        if value is None:
            fail(key, "must be a finite number")
        elif lo is not None and not lo <= value <= hi:
            fail(key, f"{_fmt(value)} is outside range [{_fmt(lo)}, {_fmt(hi)}]")
        return value

    default = in_range("default")
    neutral = in_range("neutral")

    max_rate = None
    if "max_rate" in raw:
        max_rate = _number(raw["max_rate"])
        if max_rate is None or max_rate <= 0:
            fail("max_rate", "must be a finite number > 0 (largest change per second)")

    luminance = raw.get("luminance", True)
    if not isinstance(luminance, bool):
        fail("luminance", "must be true or false (whether it changes brightness)")

    if not ok:
        return None
    return SceneParameter(
        name=name,
        description=raw.get("description", ""),
        range=(lo, hi),
        default=default,
        unit=raw.get("unit", ""),
        max_rate=max_rate,
        neutral=default if neutral is None else neutral,
        luminance=luminance,
    )


def scene_search_path() -> list[Path]:
    """Folders searched for scenes, in order.

    Each folder of ``$NEUROADAPT_SCENES`` (``os.pathsep``-separated), then
    ``./scenes`` of the current directory, then the ``scenes/`` folder shipped
    next to the package.
    """
    dirs = [Path(p) for p in os.environ.get(SCENES_ENV, "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "scenes")
    dirs.append(Path(neuroadapt.__file__).resolve().parents[1] / "scenes")
    out: list[Path] = []
    for d in dirs:
        # The current directory is often the repository root itself; list it once.
        if not any(_same(d, seen) for seen in out):
            out.append(d)
    return out


def find_scene(name: str) -> Path:
    """The folder of the scene called ``name``.

    ``name`` may also be a path to a scene folder (anything containing a path
    separator), which is used as is.

    Raises
    ------
    ManifestError
        When no folder of the search path holds ``<name>/scene.toml``; the
        message lists the scenes that exist.
    """
    if os.sep in name or (os.altsep and os.altsep in name):
        folder = Path(name)
        if (folder / MANIFEST_FILE).is_file():
            return folder
        raise ManifestError(f"scene folder {name}: no {MANIFEST_FILE} there")
    if _SCENE_NAME_RE.match(name):
        for d in scene_search_path():
            folder = d / name
            if (folder / MANIFEST_FILE).is_file():
                return folder
    available = list_scenes()
    searched = os.pathsep.join(str(d) for d in scene_search_path())
    raise ManifestError(
        f"unknown scene {name!r}; available: {', '.join(available) or 'none'} "
        f"(searched {searched}; add folders with ${SCENES_ENV})"
    )


def list_scenes() -> list[str]:
    """Names of every scene on the search path, sorted; the first of a name wins."""
    names: set[str] = set()
    for d in scene_search_path():
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        names.update(e.name for e in entries if (e / MANIFEST_FILE).is_file())
    return sorted(names)


def _unknown_field(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1, cutoff=0.75)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
    return f"unknown field; {hint}"


def _number(value: object) -> float | None:
    """``value`` as a finite float, or None (TOML booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _fmt(x: float) -> str:
    return f"{x:g}"


def _display(path: Path) -> str:
    """The path as the user will recognise it: relative to the current directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b

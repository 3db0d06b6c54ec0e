"""Load a protocol file and report every problem, one line each, with its path.

Errors look like ``protocols/x.toml: phases[1].duration: must be > 0 (got -5)``
so a researcher can fix the whole file in one pass. Nothing here raises a bare
exception for user mistakes: all become :class:`~neuroadapt.errors.ProtocolError`.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ManifestError, ProtocolError
from .schema import FORMAT_VERSION, Protocol


@dataclass(frozen=True)
class LoadedProtocol:
    """A validated protocol with what it needs from its scene resolved.

    Attributes
    ----------
    protocol : Protocol
        The parsed file.
    path : Path
        Where it was read from.
    text : str
        The exact file content (saved into the session folder).
    sha256 : str
        Hash of ``text``, recorded in ``session.json``.
    outputs : dict of str to (float, float)
        Output range of each mapped parameter.
    initial : dict of str to float
        Each mapped parameter's starting value (the scene's default).
    """

    protocol: Protocol
    path: Path
    text: str
    sha256: str
    outputs: dict[str, tuple[float, float]] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _format_pydantic(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        path = _loc(err["loc"])
        if path in seen:  # unions report each alternative; the first says enough
            continue
        seen.add(path)
        msg = _MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        msg = msg[0].lower() + msg[1:] if msg else msg
        inp = err.get("input")
        if err["type"] not in _MESSAGES and isinstance(inp, str | int | float | bool):
            msg += f" (got {inp!r})"
        lines.append(f"{path}: {msg}")
    return lines


def _cross_check(p: Protocol) -> list[str]:
    """Checks between names, which pydantic cannot see field by field."""
    errs: list[str] = []
    feature_names = [f.name for f in p.features]
    for i, f in enumerate(p.features):
        if f.name in feature_names[:i]:
            errs.append(f"features[{i}].name: duplicate feature name {f.name!r}")
        low = f.band[0]
        if low > 0 and p.signal.window * low < 2:
            errs.append(
                f"features[{i}].band: a {p.signal.window:g} s window holds fewer than 2 cycles "
                f"of {low:g} Hz; use signal.window >= {2 / low:g} s or raise the band"
            )
    phase_names = [ph.name for ph in p.phases]
    for i, ph in enumerate(p.phases):
        if ph.name in phase_names[:i]:
            errs.append(f"phases[{i}].name: duplicate phase name {ph.name!r}")
    calib = p.normalisation.from_phase
    if calib not in phase_names:
        errs.append(
            f"normalisation.from_phase: no phase named {calib!r}; phases: {', '.join(phase_names)}"
        )
    else:
        ci = phase_names.index(calib)
        if p.phases[ci].kind != "baseline":
            errs.append(f"normalisation.from_phase: phase {calib!r} is not a baseline phase")
        for i, ph in enumerate(p.phases[:ci]):
            if ph.shows_feedback and p.mappings:
                errs.append(
                    f"phases[{i}]: shows feedback before the calibration phase {calib!r} has run"
                )
    params: list[str] = []
    for i, m in enumerate(p.mappings):
        if m.feature not in feature_names:
            errs.append(
                f"mappings[{i}].feature: unknown feature {m.feature!r}; "
                f"defined: {', '.join(feature_names)}"
            )
        if m.parameter in params:
            errs.append(f"mappings[{i}].parameter: {m.parameter!r} is already mapped")
        params.append(m.parameter)
    return errs


def _check_scene(p: Protocol) -> tuple[list[str], dict, dict]:
    """Check mapped parameters against the scene manifest; resolve output ranges."""
    from ..scene.manifest import find_scene, load_manifest

    try:
        manifest = load_manifest(find_scene(p.protocol.scene) / "scene.toml")
    except ManifestError as exc:
        return [f"protocol.scene: {line}" for line in exc.problems], {}, {}
    errs: list[str] = []
    outputs: dict[str, tuple[float, float]] = {}
    initial: dict[str, float] = {}
    by_name = {prm.name: prm for prm in manifest.parameters}
    for i, m in enumerate(p.mappings):
        prm = by_name.get(m.parameter)
        if prm is None:
            errs.append(
                f"mappings[{i}].parameter: scene {p.protocol.scene!r} has no parameter "
                f"{m.parameter!r}; it has {', '.join(by_name)}"
            )
            continue
        lo, hi = prm.range
        out = m.output or (lo, hi)
        if not (lo <= min(out) and max(out) <= hi):
            errs.append(
                f"mappings[{i}].output: {list(out)} is outside the range of "
                f"{m.parameter!r} [{lo:g}, {hi:g}]"
            )
        outputs[m.parameter] = (float(out[0]), float(out[1]))
        initial[m.parameter] = float(prm.default)
    return errs, outputs, initial


def parse_protocol(text: str, source: str = "<protocol>") -> Protocol:
    """Parse and validate protocol text (no scene check).

    Raises
    ------
    ProtocolError
        With one ``source: field.path: reason`` line per problem.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{source}: TOML syntax error: {exc}") from None
    fmt = raw.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise ProtocolError(
            f"{source}: format: this neuroadapt reads protocol format {FORMAT_VERSION}, "
            f"the file says {fmt!r}"
        )
    try:
        proto = Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError([f"{source}: {line}" for line in _format_pydantic(exc)]) from None
    errs = _cross_check(proto)
    if errs:
        raise ProtocolError([f"{source}: {line}" for line in errs])
    return proto


def load_protocol(path: str | Path, *, check_scene: bool = True) -> LoadedProtocol:
    """Read, validate and resolve a protocol file.

    Parameters
    ----------
    path : str | Path
        The ``.toml`` file.
    check_scene : bool
        Also check every mapped parameter against the scene manifest and
        resolve output ranges and starting values from it.

    Raises
    ------
    ProtocolError
        Every problem found, one line each.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(f"{path}: no such protocol file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{path}: cannot read ({exc})") from None
    proto = parse_protocol(text, str(path))
    outputs: dict[str, tuple[float, float]] = {}
    initial: dict[str, float] = {}
    if check_scene:
        errs, outputs, initial = _check_scene(proto)
        if errs:
            raise ProtocolError([f"{path}: {line}" for line in errs])
    else:
        outputs = {m.parameter: m.output or (0.0, 1.0) for m in proto.mappings}
        initial = {k: (lo + hi) / 2 for k, (lo, hi) in outputs.items()}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedProtocol(proto, path, text, digest, outputs, initial)


def check_against_stream(
    protocol: Protocol, sfreq: float, ch_names: Sequence[str], stream: str = "stream"
) -> None:
    """Check a protocol against a concrete EEG stream (channels, Nyquist).

    Channel names match case-insensitively.

    Raises
    ------
    ProtocolError
        One line per missing channel or band above the Nyquist frequency.
    """
    errs: list[str] = []
    have = {c.upper() for c in ch_names}
    nyq = sfreq / 2
    for i, f in enumerate(protocol.features):
        missing = [c for c in f.channels if c.upper() not in have]
        if missing:
            errs.append(
                f"features[{i}].channels: {', '.join(missing)} not in {stream} "
                f"(it has {', '.join(ch_names)})"
            )
        top = max(f.band[1], f.total[1] if f.total else 0)
        if top >= nyq:
            errs.append(
                f"features[{i}]: {top:g} Hz is not below the Nyquist frequency "
                f"{nyq:g} Hz of {stream} ({sfreq:g} Hz)"
            )
    if protocol.signal.notch and protocol.signal.notch >= nyq:  # 0 means off
        errs.append(f"signal.notch: {protocol.signal.notch} Hz is not below Nyquist {nyq:g} Hz")
    if errs:
        raise ProtocolError([f"{protocol.protocol.name}: {line}" for line in errs])

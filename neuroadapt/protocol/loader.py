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

from pydantic import ValidationError

from neuroadapt.errors import ManifestError, ProtocolError
from neuroadapt.protocol.schema import FORMAT_VERSION, READABLE_FORMATS, REWARD, Feature, Protocol
from neuroadapt.protocol.sham import ShamTrace, load_sham
from neuroadapt.validation import error_lines


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
    sham : ShamTrace or None
        The control trace replayed for sham feedback, when ``[sham]`` is set.
    """

    protocol: Protocol
    path: Path
    text: str
    sha256: str
    outputs: dict[str, tuple[float, float]] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)
    sham: ShamTrace | None = None


# The individual alpha frequency of healthy adults lies in 7-13 Hz; bands relative to
# it are checked at both ends of that range.
_IAF_RANGE = (7.0, 13.0)


def _band_extremes(f: Feature) -> tuple[float, float] | None:
    """Lowest and highest frequency a feature's bands can reach, in Hz."""
    if f.kind == "ratio":
        return None
    lo_band = f.resolved_band(_IAF_RANGE[0])
    hi_band = f.resolved_band(_IAF_RANGE[1])
    assert lo_band is not None and hi_band is not None
    low, high = lo_band[0], hi_band[1]
    if f.total is not None:
        low, high = min(low, f.total[0]), max(high, f.total[1])
    return low, high


def _cross_check(p: Protocol) -> list[str]:
    """Checks between names, which pydantic cannot see field by field."""
    errs: list[str] = []
    feature_names = [f.name for f in p.features]
    for i, f in enumerate(p.features):
        if f.name == REWARD:
            errs.append(f"features[{i}].name: {REWARD!r} is reserved for the reward state")
        if f.name in feature_names[:i]:
            errs.append(f"features[{i}].name: duplicate feature name {f.name!r}")
        if f.kind == "ratio":
            for part in ("numerator", "denominator"):
                ref = getattr(f, part)
                if ref not in feature_names[:i]:
                    before = ", ".join(feature_names[:i]) or "none"
                    errs.append(
                        f"features[{i}].{part}: {ref!r} is not a feature defined "
                        f"before this one; defined: {before}"
                    )
            continue
        band = f.resolved_band(_IAF_RANGE[0])
        assert band is not None
        low = band[0]
        field = "band" if f.band is not None else "iaf_band"
        if low <= 0:
            errs.append(
                f"features[{i}].{field}: the band reaches 0 Hz "
                f"(for an IAF of {_IAF_RANGE[0]:g} Hz); raise its low edge"
            )
        elif p.signal.window * low < 2:
            errs.append(
                f"features[{i}].{field}: a {p.signal.window:g} s window holds fewer than 2 cycles "
                f"of {low:g} Hz; use signal.window >= {2 / low:g} s or raise the band"
            )
        if f.iaf_band is not None and f.total is not None:
            hb = f.resolved_band(_IAF_RANGE[1])
            assert hb is not None
            if not (f.total[0] <= low and hb[1] <= f.total[1]):
                errs.append(
                    f"features[{i}].iaf_band: for an IAF of {_IAF_RANGE[0]:g}-"
                    f"{_IAF_RANGE[1]:g} Hz the band must lie within total {list(f.total)}"
                )
    phase_names = [ph.name for ph in p.phases]
    for i, ph in enumerate(p.phases):
        if ph.name in phase_names[:i]:
            errs.append(f"phases[{i}].name: duplicate phase name {ph.name!r}")
    groups: list[str] = []
    for i, ph in enumerate(p.phases):
        if ph.group is None:
            continue
        if ph.group in groups and p.phases[i - 1].group != ph.group:
            errs.append(f"phases[{i}].group: the phases of group {ph.group!r} must be consecutive")
        groups.append(ph.group)
    calib = p.normalisation.from_phase
    needs_calibration = bool(p.mappings) or p.reward is not None
    if calib not in phase_names:
        errs.append(
            f"normalisation.from_phase: no phase named {calib!r}; phases: {', '.join(phase_names)}"
        )
    else:
        ci = phase_names.index(calib)
        cph = p.phases[ci]
        if cph.kind != "baseline":
            errs.append(f"normalisation.from_phase: phase {calib!r} is not a baseline phase")
        if cph.group is not None:
            errs.append(f"phases[{ci}].group: the calibration phase {calib!r} cannot be shuffled")
        for i, ph in enumerate(p.phases[:ci]):
            if (ph.shows_feedback or ph.rewarded) and needs_calibration:
                errs.append(
                    f"phases[{i}]: shows feedback before the calibration phase {calib!r} has run"
                )
    for i, ph in enumerate(p.phases):
        if ph.calibrates and ph.name != calib and set(ph.calibrates) != {"iaf"}:
            errs.append(
                f"phases[{i}].calibrates: only the phase named in "
                f"normalisation.from_phase ({calib!r}) calibrates normalisation "
                "and thresholds; another baseline may calibrate only 'iaf'"
            )
    known = ", ".join(feature_names)
    if p.reward is not None:
        for j, c in enumerate(p.reward.conditions):
            where = f"reward.conditions[{j}]"
            if c.feature not in feature_names:
                errs.append(f"{where}.feature: unknown feature {c.feature!r}; defined: {known}")
            th = c.threshold
            if th.kind == "adaptive" and th.value is None and th.percentile is None:
                errs.append(
                    f"{where}.threshold: an adaptive threshold needs a start: "
                    "'value' or 'percentile'"
                )
            if (
                c.scale == "normalised"
                and th.bounds is not None
                and p.normalisation.method == "percentile"
                and (th.bounds[0] < 0 or th.bounds[1] > 1)
            ):
                errs.append(
                    f"{where}.threshold.bounds: percentile-normalised values lie in "
                    f"0..1, bounds {list(th.bounds)} are outside"
                )
        if not any(ph.rewarded for ph in p.phases):
            errs.append("reward: no training or transfer phase to reward in")
    params: list[str] = []
    for i, m in enumerate(p.mappings):
        if m.feature == REWARD:
            if p.reward is None:
                errs.append(f"mappings[{i}].feature: 'reward' needs a [reward] rule")
        elif m.feature not in feature_names:
            errs.append(f"mappings[{i}].feature: unknown feature {m.feature!r}; defined: {known}")
        if m.parameter in params:
            errs.append(f"mappings[{i}].parameter: {m.parameter!r} is already mapped")
        params.append(m.parameter)
    if p.format == 1:
        v2 = [n for n in ("reward", "sham") if getattr(p, n) is not None]
        if v2:
            errs.append(f"format: {', '.join(v2)} need format = 2")
    return errs


def _check_headset(p: Protocol) -> list[str]:
    """Check the protocol against its headset profile: channels and Nyquist."""
    from neuroadapt.profiles import ProfileError, load_profile

    if p.protocol.headset is None:
        return []
    try:
        profile = load_profile(p.protocol.headset)
    except ProfileError as exc:
        first = exc.problems[0] if exc.problems else str(exc)
        return [f"protocol.headset: {first}"]
    return _stream_problems(
        p, profile.sfreq, list(profile.channels), f"headset profile {profile.id!r}"
    )


def _check_scene(p: Protocol) -> tuple[list[str], dict, dict]:
    """Check mapped parameters against the scene manifest; resolve output ranges."""
    from neuroadapt.scene.manifest import find_scene, load_manifest

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
    fmt = raw.get("format", 1)
    if fmt not in READABLE_FORMATS:
        raise ProtocolError(
            f"{source}: format: this neuroadapt reads protocol formats "
            f"{' and '.join(map(str, READABLE_FORMATS))} (writes {FORMAT_VERSION}), "
            f"the file says {fmt!r}"
        )
    try:
        proto = Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError([f"{source}: {line}" for line in error_lines(exc)]) from None
    errs = _cross_check(proto)
    errs += _check_headset(proto)
    if errs:
        raise ProtocolError([f"{source}: {line}" for line in errs])
    # Format 1 is a subset of format 2 with the same meaning: converting is relabelling.
    return (
        proto
        if proto.format == FORMAT_VERSION
        else proto.model_copy(update={"format": FORMAT_VERSION})
    )


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
    sham = None
    if proto.sham is not None:
        src = Path(proto.sham.source)
        src = src if src.is_absolute() else path.parent / src
        try:
            sham = load_sham(src, [m.parameter for m in proto.mappings])
        except ProtocolError as exc:
            raise ProtocolError([f"{path}: {line}" for line in exc.problems]) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedProtocol(proto, path, text, digest, outputs, initial, sham)


def _stream_problems(
    protocol: Protocol, sfreq: float | None, ch_names: Sequence[str], stream: str
) -> list[str]:
    from neuroadapt.dsp.measures import region_indices

    errs: list[str] = []
    have = {c.upper() for c in ch_names}
    listing = ", ".join(ch_names)
    missing = [c for c in protocol.protocol.channels if c.upper() not in have]
    if missing:
        errs.append(f"protocol.channels: {', '.join(missing)} not in {stream} (it has {listing})")
    ref = protocol.signal.reference
    if isinstance(ref, list):
        missing = [c for c in ref if c.upper() not in have]
        if missing:
            errs.append(
                f"signal.reference: {', '.join(missing)} not in {stream} (it has {listing})"
            )
    nyq = sfreq / 2 if sfreq else None
    for i, f in enumerate(protocol.features):
        if f.kind == "ratio":
            continue
        missing = [c for c in f.site_channels if c.upper() not in have]
        if missing:
            field = (
                "channels" if f.kind != "asymmetry" else ("left" if f.left in missing else "right")
            )
            errs.append(
                f"features[{i}].{field}: {', '.join(missing)} not in {stream} (it has {listing})"
            )
        if f.region is not None:
            try:
                region_indices(list(ch_names), f.region)
            except ValueError as exc:
                errs.append(f"features[{i}].region: {exc}")
        extremes = _band_extremes(f)
        assert extremes is not None
        top = extremes[1]
        if nyq is not None and top >= nyq:
            errs.append(
                f"features[{i}]: {top:g} Hz is not below the Nyquist frequency "
                f"{nyq:g} Hz of {stream} ({sfreq:g} Hz)"
            )
    if nyq is not None and protocol.signal.notch and protocol.signal.notch >= nyq:
        errs.append(f"signal.notch: {protocol.signal.notch} Hz is not below Nyquist {nyq:g} Hz")
    return errs


def check_against_stream(
    protocol: Protocol, sfreq: float, ch_names: Sequence[str], stream: str = "stream"
) -> None:
    """Check a protocol against a concrete EEG stream (channels, regions, Nyquist).

    Channel names match case-insensitively.

    Raises
    ------
    ProtocolError
        One line per missing channel or band above the Nyquist frequency.
    """
    errs = _stream_problems(protocol, sfreq, ch_names, stream)
    if errs:
        raise ProtocolError([f"{protocol.protocol.name}: {line}" for line in errs])

"""Commands about the protocol format: ``schema`` and ``explain``.

``neuroadapt schema`` prints the JSON Schema of the format so editors can
complete and check protocol files; ``neuroadapt explain FILE`` tells a
therapist, in plain words, what a protocol does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neuroadapt.protocol.engine import expand_schedule
from neuroadapt.protocol.schema import FORMAT_VERSION, Feature, Protocol


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the protocol format."""
    schema = Protocol.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"neuroadapt protocol, format {FORMAT_VERSION}"
    return schema


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def add_schema(sub) -> None:
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the protocol format",
        description="Print the JSON Schema of protocol files (TOML read as "
        "JSON), for editors that complete and check them.",
    )
    p.set_defaults(func=cmd_schema)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:g} s"
    return f"{seconds:g} s"


def _band(f: Feature) -> str:
    if f.iaf_band is not None:
        lo, hi = f.iaf_band
        return (
            f"the individual alpha frequency {lo:+g} to {hi:+g} Hz "
            "(measured in a baseline; 10 Hz until then)"
        )
    assert f.band is not None
    return f"{f.band[0]:g}-{f.band[1]:g} Hz"


def describe_feature(f: Feature) -> str:
    """One sentence about what a feature measures."""
    where = f"over the {f.region} channels" if f.region else f"at {', '.join(f.channels or [])}"
    how = " (low-delay envelope)" if f.method == "envelope" else ""
    if f.kind == "ratio":
        return f"{f.name}: {f.numerator} divided by {f.denominator}"
    if f.kind == "asymmetry":
        return (
            f"{f.name}: power in {_band(f)}, ln({f.right}) minus ln({f.left}); "
            f"higher means relatively more power at {f.right}{how}"
        )
    if f.kind == "relative_band_power":
        assert f.total is not None
        return (
            f"{f.name}: share of {f.total[0]:g}-{f.total[1]:g} Hz power in {_band(f)} {where}{how}"
        )
    return f"{f.name}: power in {_band(f)} {where}{how}"


def explain(p: Protocol) -> str:
    """The protocol in plain words for a therapist."""
    m = p.protocol
    lines = [f"{m.name} (version {m.version})" + (f" by {m.author}" if m.author else "")]
    if m.description:
        lines.append(m.description)
    lines.append(f"Scene: {m.scene}." + (f" Headset: {m.headset}." if m.headset else ""))
    schedule = expand_schedule(p)
    lines += ["", f"Session: {len(schedule)} phases, {_duration(p.duration)} in all."]
    for k, run in enumerate(schedule, 1):
        ph = run.phase
        label = f"{ph.name} (repeat {run.repeat + 1} of {ph.repeat})" if ph.repeat > 1 else ph.name
        if ph.kind == "baseline" and ph.calibrates is not None and set(ph.calibrates) == {"iaf"}:
            what = "no feedback; the individual alpha frequency is measured"
        elif ph.kind == "baseline":
            what = "no feedback; the patient's own levels are measured"
        elif ph.kind == "transfer":
            what = "feedback hidden (neutral scene); rewards counted but not shown"
        elif ph.shows_feedback:
            what = "feedback on"
        else:
            what = "no feedback"
        lines.append(f"  {k}. {label}: {ph.kind}, {_duration(ph.duration)}, {what}.")
        if ph.instructions:
            lines.append(f'     Instructions: "{ph.instructions}"')
    if any(ph.group for ph in p.phases):
        lines.append(f"  (Grouped phases run in a shuffled order fixed by seed {p.seed}.)")
    lines += [
        "",
        f"Measured (every {p.signal.hop:g} s over the last {p.signal.window:g} s of EEG):",
    ]
    lines += [f"  - {describe_feature(f)}" for f in p.features]
    norm = {
        "zscore": "standard scores (how many baseline standard deviations from the baseline mean)",
        "percentile": "percentile ranks among the baseline values (0 to 1)",
        "robust_minmax": "0 to 1 between the baseline's "
        f"{p.normalisation.percentiles[0]:g}th and "
        f"{p.normalisation.percentiles[1]:g}th percentiles",
    }
    lines.append(
        f"Values are compared with the {p.normalisation.from_phase!r} phase as "
        f"{norm[p.normalisation.method]}."
    )
    lines.append("")
    if p.reward is None:
        lines.append("Rewarded: nothing explicitly; the scene follows the features.")
    else:
        r = p.reward
        joiner = " and " if r.combine == "all" else " or "
        parts = []
        for c in r.conditions:
            th = c.threshold
            if th.kind == "fixed":
                level = f"{th.value:g}"
            elif th.kind == "percentile":
                level = f"its baseline {th.percentile:g}th percentile"
            else:
                assert th.bounds is not None
                level = (
                    f"a threshold adjusted every {th.interval:g} s so the patient is "
                    f"rewarded about {th.target_rate:.0%} of the time "
                    f"(kept within {th.bounds[0]:g} to {th.bounds[1]:g})"
                )
            parts.append(f"{c.feature} is {c.direction} {level}")
        lines.append(
            f"Rewarded when {joiner.join(parts)}; a reward lasts at least {r.min_dwell:g} s."
        )
    for mp in p.mappings:
        src = "a reward" if mp.feature == "reward" else f"higher {mp.feature}"
        sense = "lowers" if mp.invert else "raises"
        lines.append(
            f"  - {src} {sense} {mp.parameter} ({mp.curve}, smoothed over {mp.smoothing:g} s)"
        )
    held = ", ".join(p.artifacts.hold_on) or "nothing"
    scene = "stays where it is" if p.artifacts.while_held == "hold" else "returns to neutral"
    lines.append(f"Artifacts that pause feedback: {held}; meanwhile the scene {scene}.")
    if p.sham is not None:
        lines.append(
            f"SHAM: the scene replays another session ({p.sham.source}); the "
            "patient's own rewards are recorded but not shown."
        )
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    from neuroadapt.paths import find_protocol
    from neuroadapt.protocol.loader import load_protocol

    for i, name in enumerate(args.files):
        loaded = load_protocol(find_protocol(str(name)))
        if i:
            print()
        print(explain(loaded.protocol))
    return 0


def add_explain(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="describe a protocol in plain words",
        description="Describe protocols for a therapist: phases, durations, "
        "what is measured and what is rewarded.",
    )
    p.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="protocol file or shipped name"
    )
    p.set_defaults(func=cmd_explain)


def add_parsers(sub) -> None:
    """Register ``schema`` and ``explain``."""
    add_schema(sub)
    add_explain(sub)

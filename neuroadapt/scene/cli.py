"""``neuroadapt scene`` (show a scene) and ``neuroadapt scenes`` (list them).

Examples
--------
::

    neuroadapt scenes
    neuroadapt scene lagoon
    neuroadapt scene lagoon --headless --set fog_density=0 --screenshot clear.png
    neuroadapt scene lagoon --control tcp://127.0.0.1:5710 --source-id sub01-ses02
    neuroadapt scene lagoon --output stereo --mirror
    neuroadapt scene lagoon --output vr --mirror      # needs neuroadapt[vr] and a runtime
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys

from neuroadapt.bus import DEFAULT_PUB
from neuroadapt.errors import ConfigError, NeuroadaptError
from neuroadapt.scene.manifest import find_scene, list_scenes, load_manifest
from neuroadapt.scene.output import OUTPUTS, check_output

HEADLESS_ENV = "NEUROADAPT_HEADLESS"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``scene`` and ``scenes`` subcommands.

    Both set ``func=main``; :func:`main` tells them apart by ``scene_command``.
    """
    p = subparsers.add_parser(
        "scene",
        help="show a scene driven by the engine's control messages",
        description="Show a scene in a window (or offscreen with --headless), follow the "
        "engine's control messages and publish the applied state over LSL.",
    )
    p.add_argument(
        "name",
        nargs="?",
        default="lagoon",
        metavar="NAME",
        help="scene name or folder (default: lagoon; see `neuroadapt scenes`)",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help=f"render offscreen; automatic without a display or with {HEADLESS_ENV}=1",
    )
    p.add_argument(
        "--output",
        metavar="MODE",
        help=f"{' | '.join(OUTPUTS)}: desktop window, offscreen buffer, side-by-side "
        "stereo, or an OpenXR headset (needs neuroadapt[vr]); default: window, "
        "or offscreen with --headless",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="also show the therapist what the patient sees (the left eye in stereo and VR)",
    )
    p.add_argument(
        "--exit-duration",
        type=float,
        default=60.0,
        metavar="S",
        help="duration of a gentle exit asked for without one (default: 60 s)",
    )
    p.add_argument(
        "--control",
        default=DEFAULT_PUB,
        metavar="ADDR",
        help=f"engine PUB address to follow, or 'none' (default: {DEFAULT_PUB})",
    )
    p.add_argument(
        "--set",
        dest="set_values",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="start with this parameter value (repeatable)",
    )
    p.add_argument("--screenshot", metavar="FILE", help="render, save a PNG to FILE and exit")
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (default: until the end message or a signal)",
    )
    p.add_argument(
        "--join",
        action="store_true",
        help="joining a running session (a restart): take up the first control "
        "message's parameters at once instead of gliding from the defaults",
    )
    p.add_argument(
        "--source-id",
        default="neuroadapt-scene",
        metavar="ID",
        help="LSL source_id of the applied-state stream (the session id)",
    )
    p.add_argument(
        "--size",
        default="1280x720",
        metavar="WxH",
        help="window or image size in pixels (default: 1280x720)",
    )
    p.set_defaults(func=main, scene_command="scene")

    q = subparsers.add_parser(
        "scenes",
        help="list scenes and their parameters",
        description="List every scene on the search path with its "
        "parameters (range, default, neutral, max rate).",
    )
    q.set_defaults(func=main, scene_command="scenes")


def main(args: argparse.Namespace) -> int:
    """Run the ``scene`` or ``scenes`` subcommand; returns the exit status.

    Raises
    ------
    NeuroadaptError
        For anything the user can fix (unknown scene, bad ``--set``...).
    """
    if getattr(args, "scene_command", "scene") == "scenes":
        return _list_scenes()
    return _show_scene(args)


def headless_wanted(flag: bool = False) -> bool:
    """Whether to render offscreen: asked for, forced by the environment, or no display."""
    if flag or os.environ.get(HEADLESS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    # Only X11/Wayland systems announce their display in the environment.
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def parse_set(items: list[str]) -> dict[str, float]:
    """``["fog_density=0.2", ...]`` as a dict; range checks are the manifest's job.

    Raises
    ------
    ConfigError
        One line per item that is not ``PARAM=NUMBER``.
    """
    problems, values = [], {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"--set {item!r}: expected PARAM=VALUE")
            continue
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"--set {name}: {raw.strip()!r} is not a number")
            continue
        if not math.isfinite(value):
            problems.append(f"--set {name}: {raw.strip()!r} is not a finite number")
            continue
        values[name] = value
    if problems:
        raise ConfigError(problems)
    return values


def _parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = None
    if not sep or size is None or min(size) < 16:
        raise ConfigError(f"--size {text!r}: expected WIDTHxHEIGHT, each at least 16")
    return size


def _show_scene(args: argparse.Namespace) -> int:
    manifest = load_manifest(find_scene(args.name))
    values = manifest.check_values(parse_set(args.set_values), label="--set ")
    size = _parse_size(args.size)
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(f"--duration {args.duration:g}: must be a positive number of seconds")
    output = check_output(args.output) if args.output else None
    if not (math.isfinite(args.exit_duration) and args.exit_duration > 0):
        raise ConfigError(
            f"--exit-duration {args.exit_duration:g}: must be a positive number of seconds"
        )
    headless = headless_wanted(args.headless)
    if (
        output in ("window", "vr")
        and headless
        and not args.headless
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and sys.platform.startswith("linux")
    ):
        raise ConfigError(
            f"--output {output}: no display (DISPLAY is not set); "
            "use --output offscreen or stereo --headless"
        )
    control = None if args.control.strip().lower() == "none" else args.control
    # Imported here: listing scenes or validating arguments needs no Panda3D.
    from neuroadapt.scene.app import SceneApp

    if args.screenshot:
        # A still image follows nobody: only the --set values count.
        app = SceneApp(
            args.name,
            headless=headless,
            control=None,
            output=output,
            source_id=args.source_id,
            set_values=values,
            size=size,
        )
        try:
            path = app.screenshot(args.screenshot)
        finally:
            app.close()
        print(path)
        return 0
    app = SceneApp(
        args.name,
        headless=headless,
        control=control,
        output=output,
        mirror=args.mirror,
        gentle_exit=args.exit_duration,
        source_id=args.source_id,
        set_values=values,
        size=size,
        join=args.join,
    )
    app.run(duration=args.duration)
    return 0


def _list_scenes() -> int:
    names = list_scenes()
    if not names:
        print("no scenes found (add folders with $NEUROADAPT_SCENES)")
        return 1
    status = 0
    for name in names:
        try:
            manifest = load_manifest(find_scene(name))
        except NeuroadaptError as exc:
            print(f"{name}: invalid manifest\n  " + str(exc).replace("\n", "\n  "))
            status = 1
            continue
        print(f"{name} — {manifest.title}  ({manifest.folder})")
        if manifest.description:
            print(f"  {manifest.description}")
        width = max(len(p.name) for p in manifest.parameters)
        for p in manifest.parameters:
            unit = f" {p.unit}" if p.unit else ""
            print(
                f"  {p.name:<{width}}  [{p.low:g}, {p.high:g}]{unit}  default {p.default:g}"
                f"  neutral {p.neutral:g}  max {p.max_rate:g}{unit}/s  {p.description}"
            )
    return status


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neuroadapt")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    # `python -m neuroadapt.scene.cli lagoon ...` means the scene subcommand.
    if not argv or argv[0] not in ("scene", "scenes", "-h", "--help"):
        argv = ["scene", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="neuroadapt: %(message)s")
    try:
        return args.func(args)
    except NeuroadaptError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"neuroadapt: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_cli())

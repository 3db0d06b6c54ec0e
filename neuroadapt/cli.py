"""The ``neuroadapt`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from neuroadapt import __version__, bus
from neuroadapt.errors import ConfigError, NeuroadaptError, ProtocolError


def _has_display() -> bool:
    if os.environ.get("NEUROADAPT_HEADLESS") == "1":
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# -- validate ---------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    from neuroadapt.protocol import check_against_stream, load_protocol

    failed = False
    channels = [c.strip() for c in args.channels.split(",")] if args.channels else None
    sfreq = args.sfreq
    target = f"a {sfreq:g} Hz stream" if sfreq else "stream"
    if args.profile:
        from neuroadapt.profiles import load_profile

        profile = load_profile(args.profile)
        channels = channels or list(profile.channels)
        sfreq = sfreq or profile.sfreq
        target = f"headset profile {profile.id!r}"
    for path in args.files:
        try:
            loaded = load_protocol(path)
            if sfreq or channels:
                check_against_stream(
                    loaded.protocol, sfreq or 1e9, channels or loaded.protocol.channels, target
                )
        except ProtocolError as exc:
            failed = True
            for line in exc.problems:
                print(line if line.startswith(str(path)) else f"{path}: {line}")
            continue
        print(f"{path}: ok")
    return 1 if failed else 0


def add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check protocol files",
        description="Check protocol files: syntax, types, ranges, names, and "
        "that every mapped parameter exists in the target scene. "
        "Prints 'FILE: ok' or one line per error; exit 1 on errors.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--sfreq", type=float, help="also check bands against this sampling rate")
    p.add_argument("--channels", help="also check channels against this comma-separated list")
    p.add_argument(
        "--profile",
        help="also check against a headset profile (see eeg/): its channels and sampling rate",
    )
    p.set_defaults(func=cmd_validate)


# -- info -------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from neuroadapt.sources.files import RecordingError, read_recording

    failed = False
    for path in args.files:
        try:
            rec = read_recording(path, stream=args.stream, profile=args.profile)
        except RecordingError as exc:
            failed = True
            print(f"neuroadapt: error: {exc}", file=sys.stderr)
            continue
        print(
            f"{path}: {rec.format}, {rec.n_channels} channels @ {rec.sfreq:g} Hz, "
            f"{rec.duration:.1f} s, {len(rec.annotations)} annotations"
        )
        print(f"  channels: {', '.join(rec.ch_names)}")
        renamed = [
            f"{o}->{n}" for o, n in zip(rec.original_names, rec.ch_names, strict=True) if o != n
        ]
        if renamed:
            print(f"  renamed: {', '.join(renamed[:12])}{' ...' if len(renamed) > 12 else ''}")
        labels = sorted({a.description for a in rec.annotations})
        if labels:
            print(f"  annotations: {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}")
        for warning in rec.warnings:
            print(f"  note: {warning}")
    return 1 if failed else 0


def add_info(sub) -> None:
    p = sub.add_parser(
        "info",
        help="describe EEG recordings (any format neuroadapt reads)",
        description="Read recordings (EDF/BDF, BrainVision, FIF, EEGLAB, XDF, "
        "OpenBCI GUI text, ARFF) and print their format, channels "
        "(normalised to 10-20 labels), rate, duration and "
        "annotations; one error line per file that cannot be read.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--stream", help="XDF: the EEG stream's name (default: the EEG stream)")
    p.add_argument("--profile", help="headset profile naming the channels (see eeg/)")
    p.set_defaults(func=cmd_info)


# -- engine -----------------------------------------------------------------------------
def cmd_engine(args: argparse.Namespace) -> int:
    from neuroadapt.engine import run_engine
    from neuroadapt.paths import find_protocol
    from neuroadapt.protocol import load_protocol
    from neuroadapt.record.session import new_session_id

    loaded = load_protocol(find_protocol(args.protocol))
    if not (args.stream or args.stream_type or args.source_id):
        raise ConfigError(
            "engine: give the EEG stream with --stream NAME, --stream-type TYPE or --source-id ID"
        )
    reason = run_engine(
        loaded,
        stream_name=args.stream,
        stream_type=args.stream_type,
        source_id=args.source_id,
        session_id=args.session_id or new_session_id(),
        pub_address=args.pub,
        commands_address=args.commands,
        autostart=args.autostart,
        resolve_timeout=args.resolve_timeout,
    )
    return 0 if reason in ("completed", "stopped", "gentle_exit") else 1


def add_engine(sub) -> None:
    p = sub.add_parser(
        "engine",
        help="run the processing engine on an LSL EEG stream",
        description="Compute a protocol's features on a live LSL EEG stream and "
        "publish features, control and markers (LSL) and control "
        "messages (zmq). Waits for the 'start' command unless "
        "--autostart.",
    )
    p.add_argument("--protocol", required=True, help="protocol file or shipped name")
    p.add_argument("--stream", help="EEG stream name")
    p.add_argument("--stream-type", help="EEG stream type (e.g. EEG)")
    p.add_argument("--source-id", help="EEG stream source_id")
    p.add_argument("--session-id", help="session id carried in output source_ids")
    p.add_argument(
        "--pub",
        default=bus.DEFAULT_PUB,
        help=f"zmq PUB bind (default {bus.DEFAULT_PUB}; port * picks a free one)",
    )
    p.add_argument(
        "--commands",
        default=bus.DEFAULT_COMMANDS,
        help=f"zmq REP bind for commands (default {bus.DEFAULT_COMMANDS})",
    )
    p.add_argument("--autostart", action="store_true", help="start the protocol at once")
    p.add_argument(
        "--resolve-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the EEG stream (default 10)",
    )
    p.set_defaults(func=cmd_engine)


# -- demo and run -----------------------------------------------------------------------
CONSOLE_TOKEN_ENV = "NEUROADAPT_CONSOLE_TOKEN"


def _console_options(args: argparse.Namespace) -> dict:
    """Console fields of the session plan, checked: beyond loopback only with a token."""
    import ipaddress

    host = args.console_host
    token = args.console_token or os.environ.get(CONSOLE_TOKEN_ENV) or None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if args.console and not loopback and not token:
        raise ConfigError(
            f"--console-host {host}: a console reachable beyond this machine "
            f"needs a token (--console-token or {CONSOLE_TOKEN_ENV})"
        )
    if not 0 <= args.console_port <= 65535:
        raise ConfigError(f"--console-port {args.console_port}: use 0 (any free port) to 65535")
    if args.linger < 0:
        raise ConfigError(f"--linger {args.linger:g}: must be 0 or more seconds")
    return {
        "console": args.console,
        "console_host": host,
        "console_port": args.console_port,
        "console_token": token,
        "linger": args.linger if args.console else 0.0,
        "vr": args.vr,
    }


def _add_session_options(p: argparse.ArgumentParser, *, linger: float) -> None:
    p.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the therapist's console and print its address (default: on)",
    )
    p.add_argument(
        "--console-host",
        default="127.0.0.1",
        help="address the console listens on (default 127.0.0.1; any other needs "
        f"--console-token or {CONSOLE_TOKEN_ENV})",
    )
    p.add_argument(
        "--console-port", type=int, default=0, help="console port (default 0: any free port)"
    )
    p.add_argument(
        "--console-token",
        help="access token for a console beyond this machine "
        f"(better: the environment variable "
        f"{CONSOLE_TOKEN_ENV})",
    )
    p.add_argument(
        "--linger",
        type=float,
        default=linger,
        metavar="S",
        help=f"keep the console up S seconds after the report to show the summary "
        f"(default {linger:g}; Ctrl-C ends it early)",
    )
    p.add_argument(
        "--vr",
        action="store_true",
        help="show the scene in the VR headset (OpenXR; needs neuroadapt[vr])",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from neuroadapt.demo import demo_plan
    from neuroadapt.supervisor import SessionSupervisor

    if args.duration < 20:
        raise ConfigError(f"--duration {args.duration:g}: a session needs at least 20 s")
    headless = args.headless or not _has_display()
    plan, script = demo_plan(
        duration=args.duration,
        headless=headless,
        out=args.out,
        protocol=args.protocol,
        seed=args.seed,
        subject=args.subject,
        scene=args.scene,
        **_console_options(args),
    )
    sup = SessionSupervisor(plan)
    script_path = sup.dir / "simulated_brain.toml"
    script_path.write_text(script, encoding="utf-8")
    plan.simulate += ["--script", str(script_path)]
    output = "VR headset" if plan.vr else "offscreen" if headless else "window"
    print(
        f"neuroadapt demo: {plan.loaded.protocol.protocol.name} on a simulated headset, "
        f"{args.duration:g} s, scene {plan.scene} ({output})"
    )
    sup.run()
    return 0 if sup.record["ended"] == "completed" else 1


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run a complete session on the built-in synthetic headset",
        description="Run a complete session (baseline, then feedback) on the "
        "built-in synthetic headset: simulator, engine, scene, "
        "recorder and console as processes. The protocol starts "
        "by itself after a short signal check. Leaves a recorded "
        "session and its report, and prints where.",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=90.0,
        help="session length in seconds; the protocol's phases are scaled to it (default 90)",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="render offscreen (automatic when there is no display)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("sessions"),
        help="folder for sessions (default ./sessions)",
    )
    p.add_argument("--protocol", default="alpha_relax", help="protocol (default alpha_relax)")
    p.add_argument("--scene", help="scene (default: the protocol's)")
    p.add_argument("--subject", default="demo", help="pseudonymous subject id (default demo)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    _add_session_options(p, linger=0.0)
    p.set_defaults(func=cmd_demo)


def cmd_run(args: argparse.Namespace) -> int:
    from neuroadapt.paths import find_protocol
    from neuroadapt.protocol import load_protocol
    from neuroadapt.record.session import check_subject
    from neuroadapt.supervisor import SessionPlan, SessionSupervisor

    check_subject(args.subject)
    loaded = load_protocol(find_protocol(args.protocol))
    stream = {
        k: v
        for k, v in (
            ("name", args.stream),
            ("type", args.stream_type),
            ("source_id", args.source_id),
        )
        if v
    }
    if not stream:
        raise ConfigError(
            "run: give the headset's stream with --stream NAME (see "
            "'neuroadapt streams'), --stream-type or --source-id"
        )
    console = _console_options(args)
    plan = SessionPlan(
        loaded=loaded,
        protocol_text=loaded.text,
        subject=args.subject,
        out=args.out,
        scene=args.scene or loaded.protocol.protocol.scene,
        headless=args.headless or not _has_display(),
        stream=stream,
        resolve_timeout=args.resolve_timeout,
        autostart=args.autostart or not args.console,
        console_required=True,
        **console,
    )
    sup = SessionSupervisor(plan)
    sup.run()
    return 0 if sup.record["ended"] in ("completed", "stopped", "gentle exit") else 1


def add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a session with a real headset's LSL stream",
        description="Run a session against a headset's LSL stream: engine, "
        "scene, recorder and console as supervised processes. "
        "After a signal check (per-channel quality, printed) the "
        "therapist presses start in the console (or --autostart; "
        "without a console the session starts by itself). A "
        "scene that dies is restarted; a stalled stream holds "
        "the scene until it returns.",
    )
    p.add_argument("--protocol", required=True, help="protocol file or shipped name")
    p.add_argument("--subject", required=True, help="pseudonymous subject id (never a name)")
    p.add_argument("--stream", help="EEG stream name (see 'neuroadapt streams')")
    p.add_argument("--stream-type", help="EEG stream type")
    p.add_argument("--source-id", help="EEG stream source_id")
    p.add_argument("--scene", help="scene (default: the protocol's)")
    p.add_argument("--headless", action="store_true", help="render offscreen")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("sessions"),
        help="folder for sessions (default ./sessions)",
    )
    p.add_argument(
        "--resolve-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the headset stream (default 10)",
    )
    p.add_argument(
        "--autostart",
        action="store_true",
        help="start the protocol after the signal check, without waiting for the console's start",
    )
    _add_session_options(p, linger=120.0)
    p.set_defaults(func=cmd_run)


# -- streams ----------------------------------------------------------------------------
def looks_like_eeg(info) -> str:
    """``yes`` (type EEG), ``maybe`` (regular numeric stream of 100 Hz or more), or ``no``."""
    import pylsl

    if info.type().strip().lower() == "eeg":
        return "yes"
    numeric = info.channel_format() not in (pylsl.cf_string, pylsl.cf_undefined)
    if numeric and info.nominal_srate() >= 100 and not info.name().startswith("neuroadapt-"):
        return "maybe"
    return "no"


def cmd_streams(args: argparse.Namespace) -> int:
    import pylsl

    infos = pylsl.resolve_streams(args.timeout)
    if not infos:
        print(f"no LSL streams seen within {args.timeout:g} s")
        return 0
    print(f"{'name':<28} {'type':<12} {'ch':>4} {'rate':>8}  {'EEG?':<5}  source_id")
    for i in sorted(infos, key=lambda i: (i.name(), i.source_id())):
        rate = f"{i.nominal_srate():g}" if i.nominal_srate() else "irreg."
        print(
            f"{i.name():<28} {i.type():<12} {i.channel_count():>4} {rate:>8}  "
            f"{looks_like_eeg(i):<5}  {i.source_id()}"
        )
    return 0


def add_streams(sub) -> None:
    p = sub.add_parser(
        "streams",
        help="list the LSL streams this machine sees",
        description="List the LSL streams this machine sees: name, type, "
        "channels, rate, whether it looks like EEG (type EEG: yes; "
        "a regular numeric stream of 100 Hz or more: maybe) and "
        "source_id. Use the name with 'neuroadapt run --stream'.",
    )
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to listen (default 2)")
    p.set_defaults(func=cmd_streams)


# -- main -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from neuroadapt.console import cli as console_cli
    from neuroadapt.protocol import cli as protocol_cli
    from neuroadapt.record import export as record_export
    from neuroadapt.record import recorder
    from neuroadapt.record import report as record_report
    from neuroadapt.replay import cli as replay_cli
    from neuroadapt.scene import cli as scene_cli
    from neuroadapt.sources import play, simulate

    parser = argparse.ArgumentParser(
        prog="neuroadapt",
        description="Neuro-adaptive VR therapy engine: live EEG band power over LSL drives a "
        "Panda3D scene through a protocol.",
    )
    parser.add_argument("--version", action="version", version=f"neuroadapt {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_demo(sub)
    add_run(sub)
    simulate.add_parser(sub)
    play.add_parser(sub)
    add_engine(sub)
    scene_cli.add_parser(sub)
    recorder.add_parser(sub)
    record_export.add_parser(sub)
    record_report.add_parser(sub)
    add_validate(sub)
    protocol_cli.add_parsers(sub)
    add_info(sub)
    replay_cli.add_parser(sub)
    add_streams(sub)
    console_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuroadapt`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    from neuroadapt.lsl import use_machine_scope, use_quiet_logging

    if argv[:1] == ["demo"]:
        # The demo is private to this machine: restrict LSL before first use.
        use_machine_scope()
    else:
        use_quiet_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NeuroadaptError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"neuroadapt: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neuroadapt: interrupted", file=sys.stderr)
        return 130

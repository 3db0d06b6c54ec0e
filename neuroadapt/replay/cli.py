"""``neuroadapt replay``: a recording through a protocol, offline, as fast as it goes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from neuroadapt.errors import ConfigError


def _compare(a: Path, b: Path, out: Path) -> None:
    from neuroadapt.replay.compare import COMPARE_JSON, COMPARE_PNG, write_comparison

    text, _ = write_comparison(a, b, out)
    print(text)
    print(f"comparison: {out / COMPARE_JSON}, {out / COMPARE_PNG}")


def cmd_replay(args: argparse.Namespace) -> int:
    from neuroadapt.paths import find_protocol
    from neuroadapt.protocol import load_protocol
    from neuroadapt.replay.inputs import load_input
    from neuroadapt.replay.output import default_out, prepare_out, write_outputs, write_report
    from neuroadapt.replay.progress import ProgressBar
    from neuroadapt.replay.run import Replay

    compare = args.compare or []
    if args.file is None:
        if len(compare) != 2:
            raise ConfigError(
                "replay: give a recording FILE, or --compare A B to compare two "
                "replay or session folders"
            )
        out = args.out or Path("replays") / f"compare_{compare[0].name}_{compare[1].name}"
        _compare(compare[0], compare[1], prepare_out(out, args.force))
        return 0
    if len(compare) > 1:
        raise ConfigError("replay: with a FILE, --compare takes one folder (the other run)")
    for other in compare:
        if not other.is_dir():
            raise ConfigError(f"--compare {other}: no such folder")

    begin = time.perf_counter()
    inp = load_input(args.file, stream=args.stream, profile=args.profile)
    if args.protocol:
        protocol_path = find_protocol(args.protocol)
    elif inp.protocol_path is not None:
        protocol_path = inp.protocol_path
    else:
        raise ConfigError(
            f"replay: {args.file}: give --protocol (only a recorded session "
            f"folder brings its own protocol.toml)"
        )
    loaded = load_protocol(protocol_path)
    read_s = time.perf_counter() - begin
    out = args.out or default_out(inp, loaded)
    if inp.session is not None and out.resolve() == inp.session.folder.resolve():
        raise ConfigError(
            f"--out {out}: is the recorded session's folder; replays never write into one"
        )
    engine = Replay(loaded, inp, follow_session=not args.no_follow)
    setup_s = time.perf_counter() - begin - read_s
    out = prepare_out(out, args.force)
    proto = loaded.protocol.protocol
    print(
        f"replay: {inp.file_name} ({len(inp.ch_names)} ch @ {inp.sfreq:g} Hz, "
        f"{inp.duration:.1f} s) through {proto.name} {proto.version}"
        + (" following the recorded session" if inp.session and not args.no_follow else "")
    )
    bar = ProgressBar("replay", enabled=False if args.quiet else None)
    try:
        result = engine.run(progress=bar)
    finally:
        bar.close()
    speed = inp.duration / result.processing_s if result.processing_s > 0 else float("inf")
    run = {
        "read_s": round(read_s, 3),
        "setup_s": round(setup_s, 3),
        "processing_s": round(result.processing_s, 3),
        "x_real_time": round(speed, 1),
    }
    write_outputs(out, result, loaded, inp, run)
    for note in result.notes:
        print(f"note: {note}")
    print(
        f"{result.n_windows} windows in {result.processing_s:.2f} s ({speed:,.0f}x real "
        f"time; reading and set-up {read_s + setup_s:.2f} s); ended: {result.ended}"
    )
    from neuroadapt.record.phases import phase_rows

    for ph in phase_rows(result.tables):
        rate = "-" if ph["reward_rate"] is None else f"{ph['reward_rate']:.2f}"
        art = "-" if ph["artifact_fraction"] is None else f"{ph['artifact_fraction']:.2f}"
        held = "-" if ph["held_fraction"] is None else f"{ph['held_fraction']:.2f}"
        print(
            f"  {ph['name']:<14} {ph['kind']:<9} {ph['n_windows']:>6} windows  "
            f"reward rate {rate}  artifacts {art}  held {held}"
        )
    _, note = write_report(out, inp)
    if note:
        print(f"note: {note}")
    print(f"replay written to {out}")
    if compare:
        _compare(out, compare[0], out)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "replay",
        help="run a recording through a protocol offline (faster than real time)",
        description="Run a recording (any format 'neuroadapt info' reads, or a recorded "
        "session folder / session.xdf) through a protocol with the live engine's "
        "own processing, as fast as the machine allows. Writes features.tsv, "
        "control.tsv, markers.tsv (byte-identical for the same input and "
        "protocol), summary.json and report.html. A recorded session is "
        "followed as it ran live: same window grid, protocol start, commands "
        "and stop. 'replay --compare A B' compares two replay or session "
        "folders without replaying.",
    )
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="recording file, session folder or session.xdf",
    )
    p.add_argument(
        "--protocol",
        help="protocol file or shipped name (default for a session folder: its own protocol.toml)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default ./replays/<input>_<protocol>, numbered if it exists)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace the replay files in a non-empty --out folder"
    )
    p.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="compare with another replay or session folder (with FILE), or "
        "compare two folders (without FILE): prints a table, writes "
        "compare.json and compare.png",
    )
    p.add_argument(
        "--no-follow",
        action="store_true",
        help="for a recorded session: start the protocol at the first window "
        "instead of following the live session",
    )
    p.add_argument("--stream", help="XDF: the EEG stream's name (default: the EEG stream)")
    p.add_argument("--profile", help="headset profile naming the channels (see eeg/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)


__all__ = ["add_parser", "cmd_replay"]

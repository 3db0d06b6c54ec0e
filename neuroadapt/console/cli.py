"""``neuroadapt console``: the therapist's web page for a running engine."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from neuroadapt import bus
from neuroadapt.console.security import TOKEN_ENV
from neuroadapt.errors import ConfigError


def cmd_console(args: argparse.Namespace) -> int:
    from neuroadapt.console.server import Console, ConsoleConfig

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: use 0 (any free port) to 65535")
    if args.session is not None and not args.session.is_dir():
        raise ConfigError(f"--session {args.session}: not a folder")
    token = os.environ.get(TOKEN_ENV) or None
    console = Console(
        ConsoleConfig(
            pub=args.pub,
            commands=args.commands,
            session=args.session,
            host=args.host,
            port=args.port,
            scene_source_id=args.scene_source_id,
            token=token,
        )
    )

    def ready(url: str) -> None:
        note = " (token required: open it once with ?token=...)" if token else ""
        print(f"console: {url}{note}", flush=True)

    asyncio.run(console.run(ready))
    print("console stopped", flush=True)
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "console",
        help="serve the therapist console (a local web page) for a running engine",
        description="Serve the therapist console: channel quality, phase and instructions, "
        "feedback and reward, stream state and latency, the scene's state; start, "
        "pause, resume, stop, gentle exit, notes and difficulty (each recorded as a "
        "marker by the engine). Listens on 127.0.0.1 unless --host is given, which "
        f"requires a token in the environment variable {TOKEN_ENV} (never on the "
        "command line). Prints 'console: URL' once listening.",
    )
    p.add_argument(
        "--pub",
        default=bus.DEFAULT_PUB,
        help=f"the engine's zmq PUB endpoint (default {bus.DEFAULT_PUB})",
    )
    p.add_argument(
        "--commands",
        default=bus.DEFAULT_COMMANDS,
        help=f"the engine's zmq command endpoint (default {bus.DEFAULT_COMMANDS})",
    )
    p.add_argument(
        "--session",
        type=Path,
        metavar="DIR",
        help="session folder: its session.json gives the summary and its "
        "report.html is linked at the end",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address to listen on (default 127.0.0.1; any other needs {TOKEN_ENV})",
    )
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument(
        "--scene-source-id",
        metavar="ID",
        help="mirror the applied scene state from the neuroadapt-scene stream with "
        "this source_id (default: the engine's scene targets)",
    )
    p.set_defaults(func=cmd_console)


__all__ = ["add_parser", "cmd_console"]

"""``simulate`` as a command: a real subprocess streaming over LSL, and its errors."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.errors import ConfigError
from neuroadapt.sources import LSLSource, SyntheticHeadset, pull_wait, resolve_stream, simulate
from tests.sources.helpers import read_line, start

pytestmark = pytest.mark.live


def run_simulate(*args: str) -> subprocess.Popen[str]:
    return start("neuroadapt.sources.simulate", *args)


def test_simulate_streams_and_exits_by_itself(uid: str) -> None:
    proc = run_simulate("--duration", "2", "--name", f"cli-{uid}", "--source-id", uid, "--counter")
    try:
        with LSLSource(resolve_stream(source_id=uid, timeout=20.0)) as source:
            data, _ = pull_wait(source, 100, timeout=10.0)
        assert len(data) >= 100
        np.testing.assert_array_equal(np.diff(data[:, -1]), 1.0)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()  # no-op when it already exited
        proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == f"simulating cli-{uid}: 9 ch @ 250 Hz (source_id={uid})"
    assert "Traceback" not in err


def test_bad_script_path_is_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    proc = run_simulate("--duration", "1", "--script", str(missing))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.splitlines() == [
        f"neuroadapt: error: --script: '{missing}' is neither a preset (alpha-steps, steady) "
        "nor an existing file"
    ]
    assert out == ""


def test_bad_script_file_names_the_problem(tmp_path: Path) -> None:
    script = tmp_path / "script.toml"
    script.write_text("[[step]]\nat = 10\nalpha = 2\n[[step]]\nat = 5\nalpha = 1\n")
    proc = run_simulate("--duration", "1", "--script", str(script))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.splitlines() == [
        f"neuroadapt: error: {script}: step[1].at: must be increasing (got 5 after 10)"
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_simulator_cleanly(uid: str, signum: int) -> None:
    proc = run_simulate("--name", f"sig-{uid}", "--source-id", uid)  # no --duration: forever
    try:
        line = read_line(proc, timeout=30.0)
        assert line.startswith(f"simulating sig-{uid}: 8 ch @ 250 Hz"), line
        time.sleep(0.2)  # let it push a few chunks
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="neuroadapt")
    simulate.add_parser(parser.add_subparsers())
    return parser.parse_args(["simulate", *argv])


def test_parser_defaults() -> None:
    args = parse()
    assert args.func is simulate.main
    assert (args.name, args.sfreq, args.seed, args.script) == (
        "neuroadapt-sim",
        250.0,
        0,
        "alpha-steps",
    )
    assert args.channels == "Fz,C3,Cz,C4,Pz,O1,Oz,O2"
    assert (args.duration, args.line_freq, args.no_blinks, args.counter) == (
        None,
        50.0,
        False,
        False,
    )
    assert args.source_id is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--channels", "Fz,,Cz"), "--channels: expected comma-separated labels"),
        (("--sfreq", "20"), "sfreq: must be a number >= 64 Hz"),
        (("--duration", "-1"), "--duration: must be a positive number of seconds"),
        (("--script", "nope"), "--script: 'nope' is neither a preset"),
    ],
)
def test_main_refuses_bad_input(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simulate.main(parse(*argv))


def test_main_runs_in_process_and_restores_signal_handlers(
    uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    args = parse(
        "--duration", "0.3", "--name", f"main-{uid}", "--source-id", uid, "--line-freq", "60"
    )
    assert simulate.main(args) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert capsys.readouterr().out == f"simulating main-{uid}: 8 ch @ 250 Hz (source_id={uid})\n"


def test_default_source_id_comes_from_name_and_seed() -> None:
    args = parse("--name", "lab-sim", "--seed", "3")
    headset = SyntheticHeadset(seed=args.seed)
    assert simulate.HeadsetSimulator(headset, name=args.name).source_id == "lab-sim-seed3"

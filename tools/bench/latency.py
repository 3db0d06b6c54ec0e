"""End-to-end latency of the live loop, against the mne-lsl peer, in one run.

For each configuration (channels x sampling rate) a synthetic headset pushes
chunks on a real LSL outlet (every 20 ms, as headset drivers do). A consumer
process computes relative alpha on a 1 s window every 0.25 s and publishes a
control message on zmq; this script subscribes and measures, for every
message, the time from the push of the newest sample it includes to its
arrival. Consumers:

- ``neuroadapt``: ``neuroadapt engine`` running the shipped alpha protocol;
- ``mne-lsl``: ``peer_mnelsl.py``, a StreamLSL consumer computing the same feature.

It also reports each consumer's CPU seconds per second of data, read from
/proc at steady state (start-up excluded; Linux only).

Usage: python tools/bench/latency.py [--duration 30] [--configs 8x250,64x500]
       [--skip-peer] [--plot latency.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from neuroadapt.lsl import use_machine_scope  # noqa: E402

use_machine_scope()

import pylsl  # noqa: E402

from neuroadapt import bus  # noqa: E402
from neuroadapt.lsl import bus_endpoints, make_stream_info  # noqa: E402
from neuroadapt.paths import find_protocol  # noqa: E402
from neuroadapt.protocol import load_protocol  # noqa: E402
from neuroadapt.sources.synthetic import SyntheticHeadset  # noqa: E402

EIGHT = ["Fz", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]


def channel_names(n: int) -> list[str]:
    if n <= len(EIGHT):
        return EIGHT[:n]
    import mne

    from neuroadapt.sources.channels import resolve_montage

    montage = mne.channels.make_standard_montage(resolve_montage("standard_1020"))
    names = [c for c in montage.ch_names if c not in EIGHT]
    return EIGHT + names[: n - len(EIGHT)]


class Pusher(threading.Thread):
    """Pushes synthetic EEG in real time and remembers when each sample left."""

    def __init__(self, n_ch: int, sfreq: float, duration: float, source_id: str) -> None:
        super().__init__(daemon=True)
        self.sfreq = sfreq
        self.chunk = max(1, int(round(sfreq / 50)))
        self.n_total = int((duration + 30) * sfreq)
        self.push_time = np.full(self.n_total, np.nan)
        self.headset = SyntheticHeadset(channel_names(n_ch), sfreq, seed=1)
        info = make_stream_info(
            "bench-eeg", "EEG", channel_names(n_ch), sfreq, "float32", source_id, units="microvolts"
        )
        self.outlet = pylsl.StreamOutlet(info, self.chunk)
        self.stop = threading.Event()
        self.t0 = 0.0

    def run(self) -> None:
        self.t0 = pylsl.local_clock()
        n = 0
        while not self.stop.is_set() and n + self.chunk <= self.n_total:
            due = self.t0 + (n + self.chunk) / self.sfreq
            wait = due - pylsl.local_clock()
            if wait > 0:
                time.sleep(wait)
            data = self.headset.generate(self.chunk).astype(np.float32)
            self.outlet.push_chunk(data, due - 1 / self.sfreq)
            self.push_time[n : n + self.chunk] = pylsl.local_clock()
            n += self.chunk


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(kind: str, n_ch: int, sfreq: float, duration: float, protocol_file: Path) -> dict:
    sid = f"bench-{uuid.uuid4().hex[:8]}"
    pusher = Pusher(n_ch, sfreq, duration, sid)
    pusher.start()
    if kind == "neuroadapt":
        cmd = [
            sys.executable,
            "-m",
            "neuroadapt",
            "engine",
            "--protocol",
            str(protocol_file),
            "--source-id",
            sid,
            "--autostart",
            "--session-id",
            sid,
            "--pub",
            "tcp://127.0.0.1:*",
            "--commands",
            "tcp://127.0.0.1:*",
        ]
    else:
        cmd = [sys.executable, str(HERE / "peer_mnelsl.py"), sid]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        if kind == "neuroadapt":
            found = pylsl.resolve_byprop("source_id", f"{sid}/features", 1, 30)
            if not found:
                raise RuntimeError(f"engine did not start: {proc.stdout.read()}")
            address = bus_endpoints(found[0])["pub"]
        else:
            line = proc.stdout.readline()
            if not line.startswith("pub "):
                raise RuntimeError(f"peer did not start: {line}{proc.stdout.read()}")
            address = line.split()[1]
        sub = bus.Subscriber(address, ["control"])
        warmup_end = time.monotonic() + 3.0
        while time.monotonic() < warmup_end:
            sub.recv(0.1)
        cpu0, wall0 = cpu_seconds(proc.pid), pylsl.local_clock()
        lat = []
        end = time.monotonic() + duration
        while time.monotonic() < end:
            msg = sub.recv(0.5)
            if msg is None or "t_sample" not in msg[1]:
                continue
            arrived = pylsl.local_clock()
            idx = int(round((msg[1]["t_sample"] - pusher.t0) * sfreq))
            if 0 <= idx < pusher.n_total and np.isfinite(pusher.push_time[idx]):
                lat.append(arrived - pusher.push_time[idx])
        cpu = (cpu_seconds(proc.pid) - cpu0) / (pylsl.local_clock() - wall0)
        sub.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        pusher.stop.set()
        pusher.join(5)
    ms = np.asarray(lat) * 1000
    return {
        "consumer": kind,
        "config": f"{n_ch} ch @ {sfreq:g} Hz",
        "n": len(ms),
        "p50": np.percentile(ms, 50),
        "p95": np.percentile(ms, 95),
        "p99": np.percentile(ms, 99),
        "max": ms.max(),
        "cpu": cpu,
        "samples": ms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=30.0, help="seconds measured per run")
    ap.add_argument("--configs", default="8x250,64x500", help="CHANNELSxRATE list")
    ap.add_argument("--skip-peer", action="store_true", help="measure neuroadapt only")
    ap.add_argument("--plot", type=Path, help="write a latency distribution PNG here")
    args = ap.parse_args()
    configs = [(int(c.split("x")[0]), float(c.split("x")[1])) for c in args.configs.split(",")]
    loaded = load_protocol(find_protocol("alpha_relax"))
    with tempfile.TemporaryDirectory() as tmp:
        # Long enough that the protocol never ends during the measurement.
        proto = Path(tmp) / "bench.toml"
        proto.write_text(loaded.protocol.scaled(10.0).to_toml())
        kinds = ["neuroadapt"] + ([] if args.skip_peer else ["mne-lsl"])
        results = []
        for n_ch, sfreq in configs:
            for kind in kinds:
                print(
                    f"measuring {kind}, {n_ch} ch @ {sfreq:g} Hz for {args.duration:g} s...",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(measure(kind, n_ch, sfreq, args.duration, proto))
    print()
    print("| config | consumer | messages | p50 ms | p95 ms | p99 ms | max ms | CPU s/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['config']} | {r['consumer']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} "
            f"| {r['p99']:.1f} | {r['max']:.1f} | {r['cpu']:.3f} |"
        )
    if not args.skip_peer:
        print()
        print("| config | p50 ratio (peer / neuroadapt) | p99 ratio | CPU ratio |")
        print("|---|---:|---:|---:|")
        for i in range(0, len(results), 2):
            ours, peer = results[i], results[i + 1]
            print(
                f"| {ours['config']} | {peer['p50'] / ours['p50']:.2f} | "
                f"{peer['p99'] / ours['p99']:.2f} | {peer['cpu'] / ours['cpu']:.2f} |"
            )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        for r in results:
            ax.hist(
                r["samples"],
                bins=60,
                histtype="step",
                lw=1.5,
                label=f"{r['consumer']}, {r['config']}",
            )
        ax.set_xlabel("push of newest sample → control message received (ms)")
        ax.set_ylabel("messages")
        ax.legend(fontsize=8)
        fig.savefig(args.plot, dpi=110, bbox_inches="tight")
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

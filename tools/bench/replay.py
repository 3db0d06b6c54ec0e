"""Offline replay speed: 30 minutes of 64-channel EEG at 500 Hz through a shipped protocol.

The recording is one minute of a seeded :class:`SyntheticHeadset` (the 64
electrodes of the BCI2000 10-10 cap) tiled to ``--minutes`` (float32 in
memory: 30 min x 64 ch is 230 MB), timestamps continuous. The protocol is
``alpha_relax`` with its phases scaled to the recording's length, so the whole
recording is processed. Timed in one run:

- replay: :class:`neuroadapt.replay.run.Replay` (the live engine's
  :class:`~neuroadapt.pipeline.Pipeline`: causal filters, sliding Welch band
  power, artifact detectors on the feature and frontal channels, channel
  quality on all 64 channels, protocol engine, rows into the session tables;
  on a machine with two cores or more, the artifact measures of each batch of
  windows are shared with a second thread). Start-up (building the pipeline)
  is reported apart; reading is excluded.
- replay, features and protocol only: the same with the artifact detectors
  and channel quality switched off, the work the naive loops do;
- naive loops (the peer baseline): filter the whole recording offline
  (``scipy.signal.sosfilt``), then per window compute the protocol's
  relative alpha power with ``scipy.signal.welch`` or with MNE's
  ``psd_array_welch`` and step the :class:`ProtocolEngine`.

Peak memory: the process's peak resident set size (``resource.getrusage``)
after each part, and the input's own size.

Usage: python tools/bench/replay.py [--minutes 30] [--protocol alpha_relax]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from features import CAP64  # noqa: E402

from neuroadapt.dsp.filters import design_preprocessing, filter_offline  # noqa: E402
from neuroadapt.paths import find_protocol  # noqa: E402
from neuroadapt.protocol import LoadedProtocol, ProtocolEngine, load_protocol  # noqa: E402
from neuroadapt.replay.inputs import ReplayInput  # noqa: E402
from neuroadapt.replay.run import Replay  # noqa: E402
from neuroadapt.sources.synthetic import SyntheticHeadset  # noqa: E402


def peak_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scaled_protocol(name: str, seconds: float) -> LoadedProtocol:
    original = load_protocol(find_protocol(name))
    scaled = original.protocol.scaled(seconds / original.protocol.duration)
    return LoadedProtocol(
        scaled, original.path, scaled.to_toml(), original.sha256, original.outputs, original.initial
    )


def make_input(minutes: float, sfreq: float) -> ReplayInput:
    one = SyntheticHeadset(CAP64, sfreq, seed=1).generate(int(60 * sfreq)).astype(np.float32)
    reps = int(np.ceil(minutes))
    data = np.tile(one, (reps, 1))[: int(minutes * 60 * sfreq)]
    stamps = np.arange(len(data)) / sfreq
    return ReplayInput(
        data=data,
        stamps=stamps,
        sfreq=sfreq,
        ch_names=list(CAP64),
        ch_types=["eeg"] * len(CAP64),
        file_name="synthetic",
        format="synthetic",
        label="synthetic",
    )


def naive(loaded: LoadedProtocol, inp: ReplayInput, method: str) -> tuple[float, int]:
    """Per-window loop: Welch PSD of the feature channels, relative power, protocol step."""
    from scipy.signal import welch

    if method == "mne":
        from mne.time_frequency import psd_array_welch
    proto = loaded.protocol
    feature = proto.features[0]
    cols = [inp.ch_names.index(c) for c in feature.channels]
    sfreq = inp.sfreq
    n_window = int(round(proto.signal.window * sfreq))
    n_hop = int(round(proto.signal.hop * sfreq))
    (lo, hi), (tlo, thi) = feature.band, feature.total
    begin = time.perf_counter()
    sos = design_preprocessing(sfreq, proto.signal.highpass or None, proto.signal.notch or None)
    x = filter_offline(sos, inp.data[:, cols].astype(float))
    engine = ProtocolEngine(loaded)
    ends = range(n_window, len(x) + 1, n_hop)
    engine.start(inp.stamps[n_window - 1])
    n = 0
    for end in ends:
        win = x[end - n_window : end].T
        if method == "mne":
            psd, freqs = psd_array_welch(
                win,
                sfreq,
                fmin=0,
                fmax=sfreq / 2,
                n_fft=n_window,
                n_per_seg=n_window,
                n_overlap=0,
                window="hamming",
                verbose=False,
            )
        else:
            freqs, psd = welch(win, fs=sfreq, window="hamming", nperseg=n_window, noverlap=0)
        band = psd[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
        total = psd[:, (freqs >= tlo) & (freqs < thi)].sum(axis=1)
        ctl = engine.step({feature.name: float(np.mean(band / total))}, inp.stamps[end - 1])
        n += 1
        if ctl.end:
            break
    return time.perf_counter() - begin, n


def timed_replay(
    loaded: LoadedProtocol, inp: ReplayInput, detect: bool
) -> tuple[float, float, int]:
    begin = time.perf_counter()
    rp = Replay(loaded, inp)
    if not detect:
        rp.pipeline.extractor.detector = None
        rp.pipeline.extractor.quality = None
    setup = time.perf_counter() - begin
    result = rp.run()
    return setup, result.processing_s, result.n_windows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sfreq", type=float, default=500.0)
    ap.add_argument("--protocol", default="alpha_relax")
    args = ap.parse_args()
    seconds = args.minutes * 60
    print(f"generating {args.minutes:g} min of 64 ch at {args.sfreq:g} Hz ...", file=sys.stderr)
    inp = make_input(args.minutes, args.sfreq)
    loaded = scaled_protocol(args.protocol, seconds)
    base_mb = peak_mb()
    rows = []
    for label, detect in (
        ("replay (`Pipeline`: features, artifacts, 64-ch quality, protocol)", True),
        ("replay, artifact detectors and channel quality off", False),
    ):
        print(f"{label} ...", file=sys.stderr)
        setup, proc, n = timed_replay(loaded, inp, detect)
        rows.append((label, setup, proc, n, peak_mb()))
    for label, method in (
        ("naive: `scipy.signal.welch` per window + protocol step", "scipy"),
        ("naive (peer): MNE `psd_array_welch` per window + protocol step", "mne"),
    ):
        print(f"{label} ...", file=sys.stderr)
        proc, n = naive(loaded, inp, method)
        rows.append((label, 0.0, proc, n, peak_mb()))

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    print()
    print(
        f"### Offline replay of {args.minutes:g} min, 64 ch at {args.sfreq:g} Hz, "
        f"{args.protocol} (phases scaled to {seconds:g} s; window "
        f"{loaded.protocol.signal.window:g} s, hop {loaded.protocol.signal.hop:g} s)"
    )
    print()
    print(
        f"Input in memory: {inp.data.nbytes / 1e6:.0f} MB (float32); peak RSS before "
        f"processing {base_mb:.0f} MB."
    )
    print()
    print(
        "| method | windows | start-up s | processing s | × real time | µs / window | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, setup, proc, n, mb in rows:
        print(
            f"| {label} | {n} | {setup:.2f} | {proc:.2f} | {seconds / proc:,.0f}× | "
            f"{1e6 * proc / max(n, 1):.0f} | {mb:.0f} |"
        )


if __name__ == "__main__":
    main()

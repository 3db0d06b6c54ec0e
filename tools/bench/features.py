"""Offline feature extraction speed and accuracy, and the delay of each feature method.

Part 1, speed: band power (delta to gamma, :data:`neuroadapt.dsp.bandpower.BANDS`)
of every 1 s window, every 50 ms, of 10 minutes of 64-channel EEG at 500 Hz
(a seeded :class:`SyntheticHeadset` with the 64 electrodes of the BCI2000 10-10
cap), high-passed at 1 Hz with a 50 Hz notch. Compared, on the same filtered
data and in one run:

- naive: a loop calling :func:`scipy.signal.welch` on each window (all
  channels in one call), then summing the band bins;
- MNE: :func:`mne.time_frequency.psd_array_welch` per window. Its fastest use:
  given stacked windows it runs one spectrogram per row
  (``numpy.apply_along_axis``), so batches are slower; that is timed on a
  subset and extrapolated;
- ours, ``windows``: :meth:`BandPower.compute_many` on batches of a strided
  view (no copy), one FFT per window;
- ours, ``blocks`` (the default): :meth:`BandPower.compute_sliding`, which
  shares the work of overlapping windows;
- ours end to end: :func:`neuroadapt.dsp.offline.windows_features`, the
  filtering included.

Part 2, delay and accuracy of alpha (8-12 Hz) features: Welch band power on
1 s and 0.5 s windows, the cFIR and demodulation envelopes. Delay: seconds
from an amplitude step of a 10 Hz sinusoid (2 -> 10 µV) to 50 % of the
feature's change, the feature timed at its newest sample. Accuracy: Pearson
correlation with :func:`ground_truth_envelope` on O1/Oz/O2 of the eyes-closed
PhysioNet EEGMMIDB run S001R02 (160 Hz), at lag 0 (what a live loop sees) and
allowing for the method's nominal delay; Welch power enters as the amplitude
of the equivalent sinusoid, ``sqrt(2 P)``.

Usage: python tools/bench/features.py [--minutes 10] [--repeat 3] [--plot envelopes.png]
       [--data ../shared/data/eeg] [--skip-speed]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from neuroadapt.dsp.bandpower import BANDS, BandPower  # noqa: E402
from neuroadapt.dsp.envelope import (  # noqa: E402
    EnvelopeTracker,
    ground_truth_envelope,
    lagged_correlation,
    measure_step_delay,
    step_signal,
)
from neuroadapt.dsp.filters import design_preprocessing, filter_offline  # noqa: E402
from neuroadapt.dsp.offline import windows_features  # noqa: E402
from neuroadapt.sources.synthetic import SyntheticHeadset  # noqa: E402

#: The 64 electrodes of the BCI2000 cap (PhysioNet EEGMMIDB), 10-10 names.
CAP64 = (
    "FC5 FC3 FC1 FCz FC2 FC4 FC6 C5 C3 C1 Cz C2 C4 C6 CP5 CP3 CP1 CPz CP2 CP4 CP6 Fp1 Fpz "
    "Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT7 FT8 T7 T8 T9 T10 TP7 TP8 P7 P5 "
    "P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz"
).split()
ALPHA = (8.0, 12.0)
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eeg"


def progress(items: Iterable[int], total: int, label: str) -> Iterable[int]:
    """Yield ``items``, printing a percentage to stderr every 10 %."""
    step = max(1, total // 10)
    for done, item in enumerate(items):
        if done % step == 0:
            print(f"\r{label}: {100 * done // total:3d} %", end="", file=sys.stderr, flush=True)
        yield item
    print(f"\r{label}: done  ", file=sys.stderr, flush=True)


def band_sums(freqs: np.ndarray, psd: np.ndarray) -> np.ndarray:
    """Band power from a (n_channels, n_freqs) PSD: bins lo <= f < hi times the resolution."""
    df = freqs[1] - freqs[0]
    return np.stack(
        [psd[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) * df for lo, hi in BANDS.values()]
    )


def naive_scipy(windows: np.ndarray, sfreq: float) -> np.ndarray:
    from scipy.signal import welch

    n = windows.shape[2]
    out = np.empty((windows.shape[0], len(BANDS), windows.shape[1]))
    for i in progress(range(len(windows)), len(windows), "naive scipy.signal.welch loop"):
        freqs, psd = welch(windows[i], fs=sfreq, window="hamming", nperseg=n, noverlap=0)
        out[i] = band_sums(freqs, psd)
    return out


def mne_welch(windows: np.ndarray, sfreq: float, batch: int = 1, label: str = "") -> np.ndarray:
    from mne.time_frequency import psd_array_welch

    n = windows.shape[2]
    out = np.empty((windows.shape[0], len(BANDS), windows.shape[1]))
    starts = range(0, len(windows), batch)
    for i in progress(starts, len(starts), label or f"MNE psd_array_welch, batches of {batch}"):
        psd, freqs = psd_array_welch(
            windows[i : i + batch], sfreq, fmin=0, fmax=sfreq / 2, n_fft=n, n_per_seg=n,
            n_overlap=0, window="hamming", verbose=False,
        )  # fmt: skip
        out[i : i + batch] = np.stack(
            [band_sums(freqs, p) for p in psd.reshape(-1, *psd.shape[-2:])]
        )
    return out


def timed(fn: Callable[[], np.ndarray], repeat: int = 1) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` runs, and the result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def speed(
    minutes: float, n_channels: int, sfreq: float, window: float, hop: float, repeat: int
) -> None:
    names = CAP64[:n_channels]
    n = int(minutes * 60 * sfreq)
    print(f"generating {minutes:g} min of {n_channels} ch at {sfreq:g} Hz ...", file=sys.stderr)
    raw = SyntheticHeadset(names, sfreq, seed=1).generate(n)
    n_window, n_hop = int(round(window * sfreq)), int(round(hop * sfreq))
    filtered = filter_offline(design_preprocessing(sfreq, 1.0, 50.0), raw)
    windows = sliding_window_view(filtered, n_window, axis=0)[::n_hop]  # (n_win, n_ch, n)
    n_windows = windows.shape[0]
    bp = BandPower(sfreq, n_window, BANDS)

    # Sub-second methods are timed more often: one busy moment of a shared machine is a
    # larger share of a short run.
    fast = 5 * repeat
    rows: list[tuple[str, float, np.ndarray | None]] = []
    t, naive = timed(lambda: naive_scipy(windows, sfreq), repeat)
    rows.append(("naive: `scipy.signal.welch` per window", t, naive))
    t, mne_loop = timed(
        lambda: mne_welch(windows, sfreq, 1, "MNE psd_array_welch per window"), repeat
    )
    rows.append(("MNE `psd_array_welch` per window", t, mne_loop))
    subset = min(n_windows, 256)
    t_sub, _ = timed(lambda: mne_welch(windows[:subset], sfreq, 64))
    rows.append(
        (f"MNE `psd_array_welch`, batches of 64 windows ({subset} timed, extrapolated)",
         t_sub * n_windows / subset, None)
    )  # fmt: skip
    t, ours_windows = timed(lambda: bp.compute_sliding(filtered, n_hop, method="windows"), fast)
    rows.append(("ours: `compute_many` on a strided view, batched", t, ours_windows))
    t, ours_blocks = timed(lambda: bp.compute_sliding(filtered, n_hop, method="blocks"), fast)
    rows.append(("ours: `compute_sliding` (blocks)", t, ours_blocks))
    t, (_, ours_e2e) = timed(
        lambda: windows_features(raw, sfreq, window, hop, BANDS, highpass=1.0, notch=50.0),
        fast,
    )
    rows.append(("ours end to end: `windows_features` (filtering included)", t, ours_e2e))

    naive_t = rows[0][1]
    print(
        f"\n### Band power of {n_windows} windows ({window:g} s every {hop * 1000:g} ms) "
        f"of {minutes:g} min, {n_channels} ch at {sfreq:g} Hz, {len(BANDS)} bands; "
        f"best of {repeat} runs ({fast} for ours)\n"
    )
    print("| method | wall s | speed-up vs naive | max rel. err vs naive | max rel. err vs MNE |")
    print("|---|---:|---:|---:|---:|")
    for label, t, result in rows:
        errs = ("–", "–") if result is None else (
            f"{rel_err(result, naive):.1e}", f"{rel_err(result, mne_loop):.1e}"
        )  # fmt: skip
        print(f"| {label} | {t:.2f} | {naive_t / t:.1f}× | {errs[0]} | {errs[1]} |")


def delays(sfreq: float) -> dict[str, float]:
    """Step delay (s) of each alpha feature at ``sfreq``."""
    x = step_signal(sfreq)
    out = {}
    for seconds in (1.0, 0.5):
        bp = BandPower(sfreq, int(round(seconds * sfreq)), {"alpha": ALPHA})
        power = bp.compute_sliding(x, 1)[:, 0, 0]
        t = (np.arange(power.size) + bp.n_window - 1) / sfreq  # newest sample of each window
        out[f"welch {seconds:g} s"] = measure_step_delay(t, power, 5.0)
    for method in ("cfir", "demod"):
        envelope = EnvelopeTracker(sfreq, ALPHA, 1, method=method).process(x)[:, 0]
        out[method] = measure_step_delay(np.arange(x.shape[0]) / sfreq, envelope, 5.0)
    return out


def accuracy(data_dir: Path, plot: Path | None) -> None:
    import mne

    path = data_dir / "physionet_eegmmidb" / "S001R02.edf"
    step_160, step_500 = delays(160.0), delays(500.0)
    if not path.is_file():
        print(f"\n{path} not found: accuracy columns skipped", file=sys.stderr)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error") if path.is_file() else None
    sfreq = raw.info["sfreq"] if raw is not None else 160.0
    traces: dict[str, np.ndarray] = {}
    nominal: dict[str, float] = {}
    if raw is not None:
        data = raw.get_data(picks=["O1..", "Oz..", "O2.."]).T * 1e6  # µV
        filtered = filter_offline(design_preprocessing(sfreq, 1.0, 60.0), data)  # US mains
        truth = ground_truth_envelope(sfreq, ALPHA, filtered)
        for seconds in (1.0, 0.5):
            bp = BandPower(sfreq, int(round(seconds * sfreq)), {"alpha": ALPHA})
            amplitude = np.full_like(filtered, np.nan)
            # Amplitude of the sinusoid with that power, at each window's newest sample.
            amplitude[bp.n_window - 1 :] = np.sqrt(2 * bp.compute_sliding(filtered, 1)[:, 0])
            traces[f"welch {seconds:g} s"] = amplitude
            nominal[f"welch {seconds:g} s"] = bp.delay
        for method in ("cfir", "demod"):
            tracker = EnvelopeTracker(sfreq, ALPHA, 3, method=method)
            traces[method] = tracker.process(filtered)
            nominal[method] = tracker.delay
    else:
        for seconds in (1.0, 0.5):
            nominal[f"welch {seconds:g} s"] = (round(seconds * sfreq) - 1) / (2 * sfreq)
        for method in ("cfir", "demod"):
            nominal[method] = EnvelopeTracker(sfreq, ALPHA, 1, method=method).delay

    print("\n### Alpha (8-12 Hz) features: delay and accuracy\n")
    print(
        "| feature | nominal delay s | step delay s (160 Hz) | step delay s (500 Hz) "
        "| r at lag 0 | r at nominal delay | best r (at lag s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    skip = int(2 * sfreq)  # the reference's edge effects, filter settling, first window
    for name in ("welch 1 s", "welch 0.5 s", "cfir", "demod"):
        cells = ["–", "–", "–"]
        if name in traces:
            lag = int(round(nominal[name] * sfreq))
            lags = range(int(sfreq))
            scores = [lagged_correlation(traces[name], truth, k, skip=skip) for k in lags]
            best = int(np.argmax(scores))
            cells = [
                f"{scores[0]:.3f}",
                f"{scores[lag]:.3f}",
                f"{scores[best]:.3f} ({best / sfreq:.3f})",
            ]
        print(
            f"| {name} | {nominal[name]:.3f} | {step_160[name]:.3f} | {step_500[name]:.3f} "
            f"| {' | '.join(cells)} |"
        )
    if plot is not None and traces:
        plot_envelopes(plot, sfreq, truth, traces)


def plot_envelopes(path: Path, sfreq: float, truth: np.ndarray, traces: dict[str, np.ndarray]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start, stop = int(20 * sfreq), int(30 * sfreq)  # 10 s of O1, well inside the run
    t = np.arange(start, stop) / sfreq
    fig, ax = plt.subplots(figsize=(11, 4), constrained_layout=True)
    ax.plot(t, truth[start:stop, 0], color="black", lw=2.2, label="ground truth (zero-phase)")
    styles = {"welch 1 s": "tab:gray", "welch 0.5 s": "tab:olive", "cfir": "tab:blue",
              "demod": "tab:orange"}  # fmt: skip
    for name, color in styles.items():
        ax.plot(t, traces[name][start:stop, 0], color=color, lw=1.2, label=name)
    ax.set_xlabel("time in S001R02 (s)")
    ax.set_ylabel("alpha amplitude at O1 (µV)")
    ax.set_title("Causal alpha (8-12 Hz) features against the offline envelope, eyes closed")
    ax.legend(ncol=5, fontsize=8, loc="upper right")
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}", file=sys.stderr)


def machine() -> str:
    import mne
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"mne {mne.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=64, choices=range(1, 65))
    parser.add_argument("--sfreq", type=float, default=500.0)
    parser.add_argument("--window", type=float, default=1.0, help="s")
    parser.add_argument("--hop", type=float, default=0.05, help="s")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real recordings folder")
    parser.add_argument("--plot", type=Path, help="PNG of the envelopes over 10 s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; best is kept")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    if not args.skip_speed:
        speed(args.minutes, args.channels, args.sfreq, args.window, args.hop, args.repeat)
    accuracy(args.data, args.plot)


if __name__ == "__main__":
    main()

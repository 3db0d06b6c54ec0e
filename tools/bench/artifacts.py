"""Validation of the artifact detectors on real recordings: hit and false-alarm rates.

Recordings (from ``../shared/data/eeg``, see its SOURCES.md):

- OpenBCI Cyton sample ``openbci_gui/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt``
  (8 channels, 250 Hz, 90 s, recorded on 60 Hz mains), with the blink and jaw-clench
  segments annotated below by inspection of the traces, their 25-45 Hz power and
  their peak-to-peak over time; montage assumed to be OpenBCI's default (Fp1, Fp2,
  C3, C4, P7, P8, O1, O2);
- PhysioNet EEGMMIDB S001 runs 1 (eyes open) and 2 (eyes closed), 64 channels,
  160 Hz, recorded on 60 Hz mains, no annotated artifacts: every flag on a
  non-frontal channel counts as a false alarm, frontal channels (where real blinks
  show) are reported apart;
- g.USBamp MISwitch run (16 channels, 256 Hz), whose FC3, C3 and F4 carry strong
  60 Hz: a positive control for ``line_noise``.

Windows are the engine's defaults: 1 s every 0.25 s. A window "overlaps" a segment
when their time spans intersect. Hit rate: share of annotated events with at least
one flagged window overlapping them. False-alarm rate: flagged windows / windows
that overlap no annotated segment (the "clean" windows).

Usage: python tools/bench/artifacts.py [--data ../shared/data/eeg] [--plot out.png]
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from neuroadapt.dsp.artifacts import (  # noqa: E402
    DETECTORS,
    HOLDING,
    ArtifactDetector,
    ArtifactThresholds,
    is_frontal,
)
from neuroadapt.dsp.quality import ChannelQuality, QualityChange  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eeg"
OPENBCI = Path("openbci_gui") / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
PHYSIONET = Path("physionet_eegmmidb")
USBAMP = Path("xdf_bci_essentials") / "sub-P001_ses-S001_task-MISwitch_run-002_eeg.xdf"
OPENBCI_MONTAGE = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
WINDOW_S = 1.0
HOP_S = 0.25

# Hand-annotated segments, shared with tests/dsp/test_artifacts_real.py.
SEGMENTS_FILE = Path(__file__).with_name("artifact_segments.toml")
SEGMENTS = tomllib.loads(SEGMENTS_FILE.read_text(encoding="utf-8"))


def _segments(recording: str, key: str) -> tuple[tuple[float, float], ...]:
    return tuple((float(a), float(b)) for a, b in SEGMENTS[recording][key])


BLINKS = _segments("openbci", "blinks")
JAW_CLENCHES = _segments("openbci", "jaw_clenches")
OTHER = _segments("openbci", "other")
ALPHA = tuple(float(x) for x in SEGMENTS["openbci"]["alpha"])
R01_BLINKS = _segments("physionet_r01", "blinks")
R01_OTHER = _segments("physionet_r01", "other")


@dataclass
class Recording:
    """Raw samples in µV, samples first, with their rate and labels."""

    data: np.ndarray
    sfreq: float
    ch_names: list[str]


def _project_reader():
    """``neuroadapt.sources.files.read_recording``, or None where that module is absent."""
    try:
        from neuroadapt.sources.files import read_recording
    except ImportError:
        return None
    return read_recording


def read_openbci(path: Path) -> Recording:
    """The 8 EXG channels of an OpenBCI GUI v6 text file, labelled with the default montage.

    Uses the project's reader when present; otherwise parses the CSV (four ``%``
    header lines and a column-name line, then sample index and 8 EXG columns in µV).
    """
    reader = _project_reader()
    if reader is not None:
        rec = reader(path)
        data, sfreq = np.asarray(rec.data, dtype=np.float64), float(rec.sfreq)
    else:
        data = np.loadtxt(path, delimiter=",", skiprows=5, usecols=range(1, 9))
        sfreq = 250.0
    if data.shape[1] != len(OPENBCI_MONTAGE):
        raise ValueError(f"{path}: expected 8 EXG channels, got shape {data.shape}")
    return Recording(data, sfreq, list(OPENBCI_MONTAGE))


def read_edf_uv(path: Path) -> Recording:
    """An EDF recording in µV, BCI2000 labels cleaned (``O1..`` -> ``O1``)."""
    reader = _project_reader()
    if reader is not None:
        rec = reader(path)
        return Recording(
            np.asarray(rec.data, dtype=np.float64), float(rec.sfreq), list(rec.ch_names)
        )
    import mne

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    names = [c.strip().rstrip(".") for c in raw.ch_names]
    return Recording(raw.get_data().T * 1e6, float(raw.info["sfreq"]), names)


def read_xdf_eeg(path: Path) -> Recording:
    """The EEG stream of an XDF file (already in µV)."""
    reader = _project_reader()
    if reader is not None:
        rec = reader(path)
        return Recording(
            np.asarray(rec.data, dtype=np.float64), float(rec.sfreq), list(rec.ch_names)
        )
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(path))
    for s in streams:
        if s["info"]["type"][0] == "EEG":
            chans = s["info"]["desc"][0]["channels"][0]["channel"]
            names = [c["label"][0] for c in chans]
            return Recording(
                np.asarray(s["time_series"], dtype=np.float64),
                float(s["info"]["nominal_srate"][0]),
                names,
            )
    raise ValueError(f"{path}: no EEG stream")


def windows_of(rec: Recording) -> tuple[np.ndarray, np.ndarray]:
    """1 s windows every 0.25 s as (n_windows, n, n_ch) and their start times in s."""
    n = int(round(WINDOW_S * rec.sfreq))
    hop = int(round(HOP_S * rec.sfreq))
    view = sliding_window_view(rec.data, n, axis=0)[::hop].transpose(0, 2, 1)
    starts = np.arange(view.shape[0]) * hop / rec.sfreq
    return view, starts


def overlaps(starts: np.ndarray, segments: tuple[tuple[float, float], ...]) -> np.ndarray:
    """(n_windows, n_segments) bool: window [s, s + 1 s) intersects the segment."""
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    return (starts[:, None] < seg[None, :, 1]) & (starts[:, None] + WINDOW_S > seg[None, :, 0])


def flags_matrix(detector: ArtifactDetector, windows: np.ndarray) -> np.ndarray:
    """(n_windows, n_detectors, n_channels) bool, batched to bound memory."""
    out = []
    for i in range(0, len(windows), 64):
        out.append(detector.tripped(detector.measure(np.ascontiguousarray(windows[i : i + 64]))))
    return np.concatenate(out)


def evaluate_openbci(rec: Recording, thresholds: ArtifactThresholds) -> dict:
    """Per-detector hit rates on the annotated events and false alarms on clean windows."""
    det = ArtifactDetector(rec.sfreq, rec.ch_names, thresholds=thresholds, line_freq=60.0)
    win, starts = windows_of(rec)
    tripped = flags_matrix(det, win)  # (w, d, c)
    any_ch = tripped.any(axis=-1)  # (w, d)
    holding = any_ch[:, [DETECTORS.index(d) for d in DETECTORS if d in HOLDING]].any(axis=1)
    ov_blink, ov_jaw = overlaps(starts, BLINKS), overlaps(starts, JAW_CLENCHES)
    annotated = ov_blink.any(1) | ov_jaw.any(1) | overlaps(starts, OTHER).any(1)
    clean = ~annotated
    alpha = clean & (starts >= ALPHA[0]) & (starts + WINDOW_S <= ALPHA[1])

    def hit(ov: np.ndarray, flagged: np.ndarray) -> float:
        return float(np.mean([(flagged & ov[:, j]).any() for j in range(ov.shape[1])]))

    res = {
        "n_windows": len(starts),
        "n_clean": int(clean.sum()),
        "n_alpha": int(alpha.sum()),
        "rows": {},
        "starts": starts,
        "tripped": tripped,
        "missed": {},
    }
    for d, name in enumerate(DETECTORS):
        res["rows"][name] = {
            "blink_hit": hit(ov_blink, any_ch[:, d]),
            "jaw_hit": hit(ov_jaw, any_ch[:, d]),
            "fa_clean": float(any_ch[clean, d].mean()),
            "fa_alpha": float(any_ch[alpha, d].mean()),
        }
    res["rows"]["contaminated"] = {
        "blink_hit": hit(ov_blink, holding),
        "jaw_hit": hit(ov_jaw, holding),
        "fa_clean": float(holding[clean].mean()),
        "fa_alpha": float(holding[alpha].mean()),
    }
    blink_d, emg_d = DETECTORS.index("blink"), DETECTORS.index("emg")
    res["missed"]["blink"] = [
        BLINKS[j] for j in range(len(BLINKS)) if not (any_ch[:, blink_d] & ov_blink[:, j]).any()
    ]
    res["missed"]["emg"] = [
        JAW_CLENCHES[j]
        for j in range(len(JAW_CLENCHES))
        if not (any_ch[:, emg_d] & ov_jaw[:, j]).any()
    ]
    res["holding"] = holding
    return res


def evaluate_unannotated(
    rec: Recording,
    thresholds: ArtifactThresholds,
    line_freq: float,
    blinks: tuple = (),
    other: tuple = (),
) -> dict:
    """Share of windows flagged per detector, on non-frontal and on frontal channels.

    Every window counts. With ``blinks`` (and ``other``) segments, also the blink hit
    rate and the frontal false-alarm rate on windows overlapping none of them.
    """
    det = ArtifactDetector(rec.sfreq, rec.ch_names, thresholds=thresholds, line_freq=line_freq)
    win, starts = windows_of(rec)
    tripped = flags_matrix(det, win)
    frontal = np.array([is_frontal(c) for c in rec.ch_names])
    extra = {}
    if blinks:
        ov = overlaps(starts, blinks)
        clean = ~ov.any(1) & ~overlaps(starts, other).any(1)
        flagged = tripped[:, DETECTORS.index("blink")].any(-1)
        held = tripped[:, [DETECTORS.index(d) for d in DETECTORS if d in HOLDING]].any((-1, -2))
        extra = {
            "blink_hit": float(np.mean([(flagged & ov[:, j]).any() for j in range(len(blinks))])),
            "blink_fa_frontal_clean": float(flagged[clean].mean()),
            "held_hit": float(np.mean([(held & ov[:, j]).any() for j in range(len(blinks))])),
            "n_clean": int(clean.sum()),
            "n_blinks": len(blinks),
        }
    rows = {}
    for d, name in enumerate(DETECTORS):
        rows[name] = {
            "nonfrontal": float(tripped[:, d, ~frontal].any(-1).mean()),
            "frontal": float(tripped[:, d, frontal].any(-1).mean()),
        }
    hold = [DETECTORS.index(d) for d in DETECTORS if d in HOLDING]
    rows["contaminated"] = {
        "nonfrontal": float(tripped[:, hold][:, :, ~frontal].any((-1, -2)).mean()),
        "frontal": float(tripped[:, hold][:, :, frontal].any((-1, -2)).mean()),
    }
    per_channel_line = tripped[:, DETECTORS.index("line_noise")].mean(0)
    return {
        "n_windows": len(win),
        "rows": rows,
        "n_frontal": int(frontal.sum()),
        **extra,
        "n_nonfrontal": int((~frontal).sum()),
        "line_per_channel": dict(zip(rec.ch_names, per_channel_line.tolist(), strict=True)),
    }


def quality_changes(rec: Recording, line_freq: float) -> list[QualityChange]:
    """The traffic-light changes over a recording, one update per window (t = window end)."""
    quality = ChannelQuality(rec.sfreq, rec.ch_names, line_freq=line_freq)
    win, starts = windows_of(rec)
    changes: list[QualityChange] = []
    for window, start in zip(win, starts, strict=True):
        changes += quality.update(window, start + WINDOW_S)
    return changes


def timing(sfreq: float, n_ch: int) -> float:
    """Microseconds per :meth:`ArtifactDetector.check` of a 1 s window (median of 200)."""
    names = [f"E{i}" for i in range(n_ch)]
    det = ArtifactDetector(sfreq, names)
    x = np.random.default_rng(0).standard_normal((int(sfreq), n_ch)) * 20.0
    det.check(x)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        det.check(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def plot_openbci(rec: Recording, res: dict, path: Path) -> None:
    """Traces with the annotated segments and the windows each detector flagged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal

    # Display only: zero-phase 0.5-45 Hz band-pass, so the 60 Hz mains and the DC offset
    # do not hide the waveforms. The detectors saw the raw samples.
    sos = signal.butter(4, [0.5, 45.0], "bandpass", fs=rec.sfreq, output="sos")
    shown = signal.sosfiltfilt(sos, rec.data, axis=0)
    t = np.arange(len(shown)) / rec.sfreq
    n_ch = len(rec.ch_names)
    fig, (ax, axf) = plt.subplots(
        2, 1, figsize=(22, 12), sharex=True, gridspec_kw={"height_ratios": [4, 1.3]}
    )
    spacing = 250.0
    for i in range(n_ch):
        ax.plot(t, shown[:, i] - i * spacing, lw=0.4, color="k")
    ax.set_yticks([-i * spacing for i in range(n_ch)], rec.ch_names)
    for segs, colour, label in (
        (BLINKS, "tab:blue", "blink (annotated)"),
        (JAW_CLENCHES, "tab:orange", "jaw clench (annotated)"),
        (OTHER, "0.7", "other, not scored"),
    ):
        for k, (a, b) in enumerate(segs):
            for axis in (ax, axf):
                axis.axvspan(
                    a,
                    b,
                    color=colour,
                    alpha=0.25,
                    lw=0,
                    label=label if (k == 0 and axis is ax) else None,
                )
    ax.axvline(ALPHA[0], color="tab:green", ls="--", lw=1, label="alpha block (SOURCES.md)")
    ax.axvline(ALPHA[1], color="tab:green", ls="--", lw=1)
    ax.set_ylim(-(n_ch - 0.3) * spacing, 1.2 * spacing)
    ax.legend(loc="upper center", ncol=4)
    ax.set_title("OpenBCI Cyton sample (0.5-45 Hz for display; 250 µV between traces)")
    starts, tripped = res["starts"], res["tripped"]
    names = [*DETECTORS, "contaminated"]
    for d, name in enumerate(names):
        flagged = res["holding"] if name == "contaminated" else tripped[:, d].any(-1)
        centres = starts[flagged] + WINDOW_S / 2
        axf.plot(centres, np.full(centres.size, -d), "|", ms=9, mew=1.5)
    axf.set_yticks([-d for d in range(len(names))], names)
    axf.set_xlabel("time (s); marks at the centre of each flagged 1 s window")
    axf.set_xlim(0, t[-1])
    axf.set_xticks(np.arange(0, t[-1] + 1, 5))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown(
    obci: dict,
    others: dict[str, dict],
    usbamp: dict | None,
    quality: dict[str, list[QualityChange]],
    timings: dict[str, float],
) -> str:
    """The validation tables in markdown."""
    lines = [
        "### OpenBCI Cyton sample (8 ch, 250 Hz, line_freq=60)",
        "",
        f"{obci['n_windows']} windows; {obci['n_clean']} clean, of which "
        f"{obci['n_alpha']} inside the alpha block; {len(BLINKS)} blink events, "
        f"{len(JAW_CLENCHES)} jaw-clench events.",
        "",
        "| detector | blink hit rate | jaw-clench hit rate | false alarms, clean | "
        "false alarms, alpha block |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in obci["rows"].items():
        lines.append(
            f"| {name} | {row['blink_hit']:.2f} | {row['jaw_hit']:.2f} | "
            f"{row['fa_clean']:.3f} | {row['fa_alpha']:.3f} |"
        )
    missed = "; ".join(f"{k}: {v}" for k, v in obci["missed"].items() if v) or "none"
    lines += ["", f"Missed events: {missed}.", ""]
    for title, res in others.items():
        lines += [
            f"### {title} ({res['n_windows']} windows; {res['n_nonfrontal']} non-frontal, "
            f"{res['n_frontal']} frontal channels)",
            "",
            "| detector | windows flagged, non-frontal | windows flagged, frontal |",
            "|---|---:|---:|",
        ]
        for name, row in res["rows"].items():
            lines.append(f"| {name} | {row['nonfrontal']:.3f} | {row['frontal']:.3f} |")
        lines.append("")
        if "blink_hit" in res:
            lines += [
                f"Annotated blinks: hit rate {res['blink_hit']:.2f} by `blink`, "
                f"{res['held_hit']:.2f} by any holding detector ({res['n_blinks']} blinks); "
                f"blink flags in the {res['n_clean']} windows away from blinks and other "
                f"artifacts: {res['blink_fa_frontal_clean']:.3f}.",
                "",
            ]
    if usbamp is not None:
        lines += [
            "### g.USBamp MISwitch run (16 ch, 256 Hz, line_freq=60): line_noise",
            "",
            "| channel | windows flagged |",
            "|---|---:|",
        ]
        for ch, rate in usbamp["line_per_channel"].items():
            lines.append(f"| {ch} | {rate:.3f} |")
        lines.append("")
    lines += ["### Channel quality (traffic light) changes", ""]
    for title, changes in quality.items():
        if not changes:
            lines += [f"- {title}: none", ""]
            continue
        lines += [f"- {title}:"]
        # Group the changes made by one window, so a line per moment.
        by_time: dict[float, list[QualityChange]] = {}
        for c in changes:
            by_time.setdefault(c.t, []).append(c)
        for t, group in by_time.items():
            what = ", ".join(f"{c.channel} {c.previous} -> {c.level} ({c.reason})" for c in group)
            lines.append(f"  - {t:.2f} s: {what}")
        lines.append("")
    lines += ["### Cost of one `check` (1 s window, median)", "", "| config | µs |", "|---|---:|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in timings.items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared EEG folder")
    ap.add_argument("--plot", type=Path, help="write the OpenBCI figure (PNG) here")
    args = ap.parse_args()
    thresholds = ArtifactThresholds()

    obci_rec = read_openbci(args.data / OPENBCI)
    obci = evaluate_openbci(obci_rec, thresholds)
    quality = {"OpenBCI sample (line_freq=60)": quality_changes(obci_rec, 60.0)}
    others = {}
    for run, label, blinks, other in (
        ("S001R01.edf", "PhysioNet S001R01, eyes open", R01_BLINKS, R01_OTHER),
        ("S001R02.edf", "PhysioNet S001R02, eyes closed", (), ()),
    ):
        rec = read_edf_uv(args.data / PHYSIONET / run)
        others[label + ", 64 ch, 160 Hz, line_freq=60"] = evaluate_unannotated(
            rec, thresholds, 60.0, blinks, other
        )
        quality[label] = quality_changes(rec, 60.0)
    usbamp = None
    if (args.data / USBAMP).exists():
        usbamp_rec = read_xdf_eeg(args.data / USBAMP)
        usbamp = evaluate_unannotated(usbamp_rec, thresholds, 60.0)
        quality["g.USBamp MISwitch"] = quality_changes(usbamp_rec, 60.0)
    timings = {"8 ch @ 250 Hz": timing(250.0, 8), "64 ch @ 500 Hz": timing(500.0, 64)}
    print(markdown(obci, others, usbamp, quality, timings))
    if args.plot is not None:
        plot_openbci(obci_rec, obci, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

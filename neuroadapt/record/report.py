"""Reports a clinician can read: one self-contained HTML file (``mne.Report``).

A live session (``session.xdf``) and an offline replay (``features.tsv``,
``control.tsv``, ``markers.tsv``, ``summary.json``) are turned into the same
:class:`~neuroadapt.record.tables.SessionTables` first, so both reports come
from one code path. Sections:

- session facts (how it ended, duration, protocol and its SHA-256, versions;
  the pseudonymous subject id, never a name);
- protocol and phases (table: duration, windows, feature means, reward rate,
  artifact fraction);
- signal quality over time (each channel's traffic light from the ``quality``
  markers, and the windows in which feedback was held);
- feature time courses with the phases shaded and rewards marked;
- reward rate per block (each training or transfer phase, cut into blocks of
  at most :data:`BLOCK_S` seconds);
- artifact fraction per phase;
- baseline vs training: Hedges' g (bias-corrected standardised mean
  difference of the valid windows) with a 95 % BCa bootstrap interval
  (``scipy.stats.bootstrap``, 2000 resamples, fixed seed);
- EEG spectrum per phase (``mne.io.Raw.compute_psd``, Welch, 1-40 Hz);
- notes and session events.

``write_subject_report`` puts every session of one subject side by side (the
learning curve). mne.Report embeds its scripts, styles and images, so the
files open offline (its only outside reference is a plain link to mne.tools).
"""

from __future__ import annotations

import html
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neuroadapt.errors import NeuroadaptError
from neuroadapt.record.phases import phase_rows
from neuroadapt.record.session import check_session, read_session_json
from neuroadapt.record.tables import SessionTables, from_session

if TYPE_CHECKING:
    import argparse

    import mne
    from matplotlib.figure import Figure

BLOCK_S = 60.0
N_BOOTSTRAP = 2000
_PHASE_COLOURS = {
    "baseline": "#d9e6f2",
    "training": "#dcefdc",
    "rest": "#f2ecd9",
    "transfer": "#eadcf2",
}
_QUALITY_LEVELS = {"good": 0, "fair": 1, "bad": 2}
_QUALITY_COLOURS = ("#3a9d5d", "#e3b23c", "#c8453b")
_EVENTS_LISTED = (
    "note",
    "pause",
    "resume",
    "difficulty",
    "scene_restarted",
    "gentle_exit",
    "stream_stalled",
    "stream_resumed",
    "session_end",
)


def _progress(text: str) -> None:
    print(f"report: {text}", file=sys.stderr, flush=True)


# -- numbers ---------------------------------------------------------------------------------
@dataclass
class PhaseStats:
    """One phase run: where it lies (s from the first EEG sample) and what happened."""

    name: str
    kind: str
    index: int
    start: float
    end: float
    n_windows: int = 0
    feature_means: dict[str, float | None] = field(default_factory=dict)
    reward_rate: float | None = None
    artifact_fraction: float | None = None
    held_fraction: float | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Effect:
    """Training vs baseline for one feature (valid windows only)."""

    feature: str
    n_baseline: int
    n_training: int
    mean_baseline: float
    mean_training: float
    g: float | None
    ci: tuple[float, float] | None


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def phase_stats(tables: SessionTables) -> list[PhaseStats]:
    """Per phase: windows, feature means (usable windows), reward rate, artifact and held
    fractions, as :func:`neuroadapt.record.phases.phase_rows` defines them (the numbers
    of a replay's ``summary.json``)."""
    return [
        PhaseStats(
            name=str(r["name"]),
            kind=str(r["kind"]),
            index=int(r["index"]),
            start=float(r["start"]),
            end=float(r["end"]),
            n_windows=r["n_windows"],
            feature_means=r["feature_means"],
            reward_rate=r["reward_rate"],
            artifact_fraction=r["artifact_fraction"],
            held_fraction=r["held_fraction"],
        )
        for r in phase_rows(tables)
    ]


def hedges_g(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Hedges' g of ``b`` minus ``a``: pooled-SD standardised difference, small-sample corrected."""
    na, nb = a.shape[axis], b.shape[axis]
    pooled = np.sqrt(
        ((na - 1) * a.var(axis=axis, ddof=1) + (nb - 1) * b.var(axis=axis, ddof=1)) / (na + nb - 2)
    )
    j = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return j * (b.mean(axis=axis) - a.mean(axis=axis)) / pooled


def effect_sizes(tables: SessionTables, phases: Sequence[PhaseStats]) -> list[Effect]:
    """Training vs baseline per feature: Hedges' g with a 95 % BCa bootstrap interval.

    Consecutive windows overlap and are correlated, so the interval is narrower
    than independent samples would give: read it as a lower bound of the
    uncertainty.
    """
    from scipy.stats import bootstrap

    if not len(tables.features):
        return []
    ft = np.asarray(tables.features.floats("time"))
    valid = np.asarray(tables.features.floats("valid")) > 0.5

    def select(kind: str) -> np.ndarray:
        sel = np.zeros(len(ft), dtype=bool)
        for ph in phases:
            if ph.kind == kind:
                sel |= (ft >= ph.start) & (ft < ph.end)
        return sel & valid

    base, train = select("baseline"), select("training")
    out = []
    for name in tables.feature_names:
        values = np.asarray(tables.features.floats(name))
        a = values[base][np.isfinite(values[base])]
        b = values[train][np.isfinite(values[train])]
        g = ci = None
        if a.size >= 3 and b.size >= 3 and (a.std() > 0 or b.std() > 0):
            g = float(hedges_g(a, b))
            res = bootstrap(
                (a, b),
                hedges_g,
                n_resamples=N_BOOTSTRAP,
                vectorized=True,
                method="BCa",
                rng=np.random.default_rng(0),
            )
            lo, hi = res.confidence_interval
            ci = (float(lo), float(hi)) if np.isfinite([lo, hi]).all() else None
        out.append(
            Effect(
                name,
                int(a.size),
                int(b.size),
                float(a.mean()) if a.size else math.nan,
                float(b.mean()) if b.size else math.nan,
                g,
                ci,
            )
        )
    return out


def reward_blocks(
    tables: SessionTables, phases: Sequence[PhaseStats], block_s: float = BLOCK_S
) -> list[tuple[str, float]]:
    """``(label, reward rate)`` of each block of the training and transfer phases.

    As in :func:`phase_stats`, the rate is over the windows that could be
    rewarded (not held).
    """
    if not len(tables.control):
        return []
    ct = np.asarray(tables.control.floats("time"))
    reward = np.asarray(tables.control.floats("reward"))
    usable = ~(np.asarray(tables.control.floats("hold")) > 0.5)
    out = []
    for ph in phases:
        if ph.kind not in ("training", "transfer"):
            continue
        n = max(1, round((ph.end - ph.start) / block_s))
        edges = np.linspace(ph.start, ph.end, n + 1)
        for i in range(n):
            sel = (ct >= edges[i]) & (ct < edges[i + 1]) & usable
            if sel.any():
                label = ph.name if n == 1 else f"{ph.name} {i + 1}"
                out.append((label, float(reward[sel].mean())))
    return out


def summarise(tables: SessionTables) -> dict:
    """Phases, effect sizes and overall rates of a session (the numbers of a report)."""
    phases = phase_stats(tables)
    effects = effect_sizes(tables, phases)
    fb = [p for p in phases if p.kind == "training" and p.reward_rate is not None]
    weights = [p.n_windows or 1 for p in fb]
    return {
        "phases": [p.as_dict() for p in phases],
        "reward_rate": float(np.average([p.reward_rate for p in fb], weights=weights))
        if fb
        else None,
        "artifact_fraction": _mean(
            np.asarray([p.artifact_fraction for p in phases if p.artifact_fraction is not None])
        ),
        "effects": [e.__dict__ for e in effects],
    }


# -- figures ---------------------------------------------------------------------------------
def _figure(width: float = 10, height: float = 3) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _shade(ax, phases: Sequence[PhaseStats]) -> None:
    for ph in phases:
        ax.axvspan(ph.start, ph.end, color=_PHASE_COLOURS.get(ph.kind, "#eeeeee"), lw=0)
        ax.text(
            (ph.start + ph.end) / 2,
            1.0,
            ph.name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )


def _fig_features(tables: SessionTables, phases: Sequence[PhaseStats]) -> Figure:
    fig = _figure(10, 1.2 + 2.0 * max(1, len(tables.feature_names)))
    axes = fig.subplots(max(1, len(tables.feature_names)), 1, sharex=True, squeeze=False)[:, 0]
    t = np.asarray(tables.features.floats("time"))
    valid = np.asarray(tables.features.floats("valid")) > 0.5
    ct = np.asarray(tables.control.floats("time")) if len(tables.control) else np.zeros(0)
    reward = np.asarray(tables.control.floats("reward")) > 0.5 if len(tables.control) else ct
    for ax, name in zip(axes, tables.feature_names, strict=False):
        _shade(ax, phases)
        y = np.asarray(tables.features.floats(name))
        ax.plot(t, np.where(valid, y, np.nan), lw=1, color="#1f4e79", label="valid windows")
        ax.plot(t[~valid], y[~valid], ".", ms=3, color="#c8453b", label="held (artifact)")
        if reward.size and reward.any():
            ax.fill_between(
                ct,
                0,
                1,
                where=reward,
                transform=ax.get_xaxis_transform(),
                color="#3a9d5d",
                alpha=0.25,
                lw=0,
                label="reward shown",
            )
        ax.set_ylabel(name)
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    axes[-1].set_xlabel("time from the first EEG sample (s)")
    return fig


def _quality_timeline(
    tables: SessionTables, channels: Sequence[str]
) -> tuple[list[str], list[list[tuple[float, int]]]]:
    """Per channel, ``(time, level code)`` steps, starting at the first level known."""
    changes: dict[str, list[tuple[float, int]]] = {}
    for t, ev in tables.marker_events():
        if ev["event"] != "quality":
            continue
        ch = str(ev.get("channel", "?"))
        steps = changes.setdefault(ch, [])
        if not steps:
            steps.append((0.0, _QUALITY_LEVELS.get(str(ev.get("previous", "good")), 0)))
        steps.append((t, _QUALITY_LEVELS.get(str(ev.get("level")), 2)))
    names = list(dict.fromkeys([*channels, *changes]))
    return names, [changes.get(ch, [(0.0, 0)]) for ch in names]


def _fig_quality(
    tables: SessionTables, phases: Sequence[PhaseStats], channels: Sequence[str], t_end: float
) -> Figure:
    from matplotlib.colors import ListedColormap

    names, steps = _quality_timeline(tables, channels)
    grid = np.linspace(0.0, t_end, 600)
    rows = []
    for ch_steps in steps:
        times = np.asarray([s[0] for s in ch_steps])
        codes = np.asarray([s[1] for s in ch_steps])
        rows.append(codes[np.clip(np.searchsorted(times, grid, side="right") - 1, 0, None)])
    if len(tables.features):
        ft = np.asarray(tables.features.floats("time"))
        held = np.asarray(tables.features.floats("valid")) < 0.5
        idx = np.clip(np.searchsorted(ft, grid, side="right") - 1, 0, len(ft) - 1)
        rows.append(np.where(held[idx] & (grid >= ft[0]), 2, 0))
        names = [*names, "feedback held"]
    fig = _figure(10, 0.9 + 0.28 * len(names))
    ax = fig.subplots()
    ax.imshow(
        np.asarray(rows),
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap(_QUALITY_COLOURS),
        vmin=0,
        vmax=2,
        extent=(0.0, t_end, len(names) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for ph in phases:
        ax.axvline(ph.start, color="k", lw=0.6)
    ax.set_xlabel("time from the first EEG sample (s)  (green good, amber fair, red bad / held)")
    return fig


def _fig_bars(labels: Sequence[str], values: Sequence[float], ylabel: str, colour: str) -> Figure:
    fig = _figure(max(4, 0.6 * len(labels) + 2), 3)
    ax = fig.subplots()
    ax.bar(range(len(values)), values, color=colour)
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=30 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
        fontsize=8,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    for i, v in enumerate(values):
        ax.text(i, v + 0.02, f"{100 * v:.0f} %", ha="center", fontsize=8)
    return fig


def _fig_effects(
    tables: SessionTables, phases: Sequence[PhaseStats], effects: Sequence[Effect]
) -> Figure:
    fig = _figure(3.2 * max(1, len(effects)) + 1, 3.2)
    axes = fig.subplots(1, max(1, len(effects)), squeeze=False)[0]
    ft = np.asarray(tables.features.floats("time"))
    valid = np.asarray(tables.features.floats("valid")) > 0.5
    for ax, eff in zip(axes, effects, strict=False):
        values = np.asarray(tables.features.floats(eff.feature))
        groups = []
        for kind in ("baseline", "training"):
            sel = np.zeros(len(ft), dtype=bool)
            for ph in phases:
                if ph.kind == kind:
                    sel |= (ft >= ph.start) & (ft < ph.end)
            v = values[sel & valid]
            groups.append(v[np.isfinite(v)])
        ax.boxplot(groups, tick_labels=["baseline", "training"], widths=0.5)
        g = "n/a" if eff.g is None else f"g = {eff.g:.2f}"
        ci = "" if eff.ci is None else f" [{eff.ci[0]:.2f}, {eff.ci[1]:.2f}]"
        ax.set_title(f"{eff.feature}: {g}{ci}", fontsize=9)
    return fig


def _fig_spectra(raw: mne.io.BaseRaw, phases: Sequence[PhaseStats]) -> Figure | None:
    fig = _figure(7, 3.5)
    ax = fig.subplots()
    sfreq = raw.info["sfreq"]
    drawn = 0
    for ph in phases:
        tmin, tmax = max(ph.start, 0.0), min(ph.end, raw.times[-1])
        if tmax - tmin < 2.0:
            continue
        n_fft = int(min(2 * sfreq, (tmax - tmin) * sfreq))
        spec = raw.compute_psd(
            method="welch",
            fmin=1.0,
            fmax=min(40.0, sfreq / 2 - 1),
            tmin=tmin,
            tmax=tmax,
            picks="eeg",
            n_fft=n_fft,
            verbose="error",
        )
        psd = spec.get_data().mean(axis=0) * 1e12  # V²/Hz -> µV²/Hz, mean over channels
        ax.semilogy(spec.freqs, psd, label=f"{ph.name} ({ph.kind})")
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (µV²/Hz), mean of EEG channels")
    ax.legend(fontsize=8)
    return fig


# -- HTML pieces ------------------------------------------------------------------------------
def _table(rows: Sequence[dict]) -> str:
    e = html.escape
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{e(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table class='table table-sm table-striped'><tr>{head}</tr>{body}</table>"


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f} %"


def _facts_html(facts: dict) -> str:
    return _table([{"": k, "value": v} for k, v in facts.items()])


def session_facts(meta: dict, tables: SessionTables) -> dict:
    """What a clinician needs to know about a session, from ``session.json`` (no names)."""
    proto = meta.get("protocol", {})
    sw = meta.get("software", {})
    t = tables.features.floats("time") if len(tables.features) else [0.0]
    facts = {
        "session": meta.get("session_id", ""),
        "subject (pseudonymous id)": meta.get("subject", ""),
        "protocol": f"{proto.get('name', '')} {proto.get('version', '')}",
        "protocol SHA-256": proto.get("sha256", ""),
        "started": meta.get("start", ""),
        "ended": f"{meta.get('ended', '')} at {meta.get('end') or 'n/a'}",
        "duration of the protocol data": f"{t[-1] - t[0]:.1f} s",
    }
    if meta.get("crash_detected"):
        facts["crash detected"] = f"{meta['crash_detected']} ({meta.get('end_source', '')})"
    if meta.get("recording_notes"):
        facts["recording"] = "; ".join(meta["recording_notes"])
    if sw:
        facts["software"] = ", ".join(f"{k} {v}" for k, v in sw.items())
    return facts


def build_report(
    title: str, facts: dict, tables: SessionTables, raw: mne.io.BaseRaw | None = None
) -> tuple[mne.Report, dict]:
    """The report of one session or replay, and its numbers (:func:`summarise`)."""
    import matplotlib
    import mne

    matplotlib.use("Agg")
    summary = summarise(tables)
    phases = phase_stats(tables)
    effects = effect_sizes(tables, phases)
    with mne.utils.use_log_level("error"):
        report = mne.Report(title=title, image_format="png", verbose="error")
    report.add_html(_facts_html(facts), title="Session", section="Session")

    rows = [
        {
            "phase": p.name,
            "kind": p.kind,
            "start (s)": round(p.start, 1),
            "duration (s)": round(p.end - p.start, 1),
            "windows": p.n_windows,
            **{f"mean {k}": v for k, v in p.feature_means.items()},
            "reward rate": _pct(p.reward_rate),
            "artifact fraction": _pct(p.artifact_fraction),
            "held": _pct(p.held_fraction),
        }
        for p in phases
    ]
    report.add_html(
        _table(rows) if rows else "<p>No phase started.</p>",
        title="Protocol and phases",
        section="Protocol",
    )

    t_end = max(
        [p.end for p in phases]
        + ([float(tables.features.rows[-1][0])] if len(tables.features) else [1.0])
    )
    channels = list(raw.ch_names) if raw is not None else []
    report.add_figure(
        _fig_quality(tables, phases, channels, t_end),
        title="Signal quality over time",
        section="Signal quality",
        caption="Each channel's traffic light (from the quality markers: a "
        "channel is shown good until its first change) and the windows "
        "in which feedback was held.",
    )
    if tables.feature_names and len(tables.features):
        report.add_figure(
            _fig_features(tables, phases),
            title="Feature time courses",
            section="Features",
            caption="Feature values per window, phases shaded, rewards in green; "
            "red dots are windows held for artifacts.",
        )
    blocks = reward_blocks(tables, phases)
    if blocks:
        report.add_figure(
            _fig_bars([b[0] for b in blocks], [b[1] for b in blocks], "reward rate", "#3a9d5d"),
            title="Reward rate per block",
            section="Reward",
            caption=f"Fraction of windows with the reward shown, per training or "
            f"transfer phase (blocks of at most {BLOCK_S:g} s).",
        )
    art = [p for p in phases if p.artifact_fraction is not None]
    if art:
        report.add_figure(
            _fig_bars(
                [p.name for p in art],
                [p.artifact_fraction for p in art],
                "artifact fraction",
                "#c8453b",
            ),
            title="Artifact fraction per phase",
            section="Artifacts",
            caption="Fraction of windows flagged by an artifact detector.",
        )
    if effects:
        eff_rows = [
            {
                "feature": e.feature,
                "baseline mean": e.mean_baseline,
                "training mean": e.mean_training,
                "n baseline": e.n_baseline,
                "n training": e.n_training,
                "Hedges' g": e.g,
                "95 % CI": "n/a" if e.ci is None else f"[{e.ci[0]:.2f}, {e.ci[1]:.2f}]",
            }
            for e in effects
        ]
        report.add_html(
            _table(eff_rows)
            + (
                "<p>Hedges' g: training minus baseline over the pooled standard deviation, "
                "small-sample corrected, on windows that drove feedback. 95 % interval: BCa "
                f"bootstrap (scipy.stats.bootstrap, {N_BOOTSTRAP} resamples). Overlapping windows "
                "are correlated, so the interval understates the uncertainty.</p>"
            ),
            title="Baseline vs training",
            section="Change",
        )
        report.add_figure(
            _fig_effects(tables, phases, effects),
            title="Baseline vs training distributions",
            section="Change",
        )
    if raw is not None:
        fig = _fig_spectra(raw, phases)
        if fig is not None:
            report.add_figure(
                fig,
                title="EEG spectrum per phase",
                section="Spectra",
                caption="Welch PSD (2 s segments) of each phase, mean of the EEG channels.",
            )
    events = [
        {
            "time (s)": round(t, 2),
            "event": ev["event"],
            "detail": ev.get("text") or ev.get("reason") or ev.get("duration") or "",
        }
        for t, ev in tables.marker_events()
        if ev["event"] in _EVENTS_LISTED
    ]
    if events:
        report.add_html(_table(events), title="Notes and events", section="Events")
    return report, summary


def _save(report: mne.Report, out: Path) -> Path:
    import mne

    with mne.utils.use_log_level("error"):
        report.save(out, open_browser=False, overwrite=True, verbose="error")
    return out


def _load_session(
    session_dir: Path, echo: Callable[[str], None], want_raw: bool = True
) -> tuple[dict, SessionTables, mne.io.BaseRaw | None]:
    from neuroadapt.record.xdf import load_session_xdf

    meta = check_session(session_dir)
    xdf = session_dir / "session.xdf"
    if not xdf.is_file():
        raise NeuroadaptError(f"{session_dir}: no session.xdf (nothing was recorded)")
    echo(f"reading {xdf}")
    session = load_session_xdf(xdf)
    t_ref = (
        float(session.eeg.times[0]) if session.eeg is not None and len(session.eeg.times) else None
    )
    tables = from_session(session, t_ref)
    if session.notes:  # what a cut or unfinished recording lost, said in the report
        meta = {**meta, "recording_notes": list(session.notes)}
    raw = None
    if want_raw and session.eeg is not None and len(session.eeg.times) > 2 * session.eeg.sfreq:
        from neuroadapt.record.export import eeg_raw

        raw, _, _ = eeg_raw(xdf, session)
    return meta, tables, raw


def write_report(
    session_dir: Path, out: Path | None = None, *, echo: Callable[[str], None] = lambda _s: None
) -> Path:
    """Write the report of a session folder (``<session>/report.html`` by default).

    Raises
    ------
    NeuroadaptError
        If the folder is not a session, is still running, or has no recording.
    """
    session_dir = Path(session_dir)
    meta, tables, raw = _load_session(session_dir, echo)
    echo("computing")
    report, _ = build_report(
        f"neuroadapt session {meta.get('session_id', '')}", session_facts(meta, tables), tables, raw
    )
    out = Path(out) if out is not None else session_dir / "report.html"
    echo(f"writing {out}")
    return _save(report, out)


def write_replay_report(out_dir: Path, raw: mne.io.BaseRaw | None = None) -> Path:
    """Write ``<out_dir>/report.html`` for an offline replay folder.

    Parameters
    ----------
    out_dir : Path
        Folder with ``features.tsv``, ``control.tsv``, ``markers.tsv`` and
        ``summary.json`` (protocol facts at its top level or under ``protocol``).
    raw : mne.io.BaseRaw, optional
        The replayed EEG (time 0 = the tables' time 0), for the spectra.
    """
    out_dir = Path(out_dir)
    tables = SessionTables.read(out_dir)
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        summary = {}
    proto = summary.get("protocol", {})
    if not isinstance(proto, dict):
        proto = {"name": proto}
    facts = {
        "replay of": summary.get("source", summary.get("recording", "")),
        "protocol": f"{proto.get('name', '')} {proto.get('version', '')}".strip(),
        "protocol SHA-256": proto.get("sha256", ""),
        "software": ", ".join(f"{k} {v}" for k, v in summary.get("software", {}).items()),
    }
    facts = {k: v for k, v in facts.items() if v}
    report, _ = build_report(f"neuroadapt replay {out_dir.name}", facts, tables, raw)
    return _save(report, out_dir / "report.html")


def find_sessions(subject_dir: Path) -> list[Path]:
    """Session folders (with ``session.json``) under a subject's folder."""
    subject_dir = Path(subject_dir)
    if not subject_dir.is_dir():
        raise NeuroadaptError(f"--subject {subject_dir}: no such folder")
    found = sorted(p.parent for p in subject_dir.rglob("session.json"))
    if not found:
        raise NeuroadaptError(f"--subject {subject_dir}: no session folders (session.json) in it")
    return found


def write_subject_report(
    subject_dir: Path, out: Path | None = None, *, echo: Callable[[str], None] = lambda _s: None
) -> Path:
    """Every session of one subject in date order: the learning curve.

    Sessions still running are listed and left out of the curve; a session that
    cannot be read is listed with the reason.
    """
    import mne

    subject_dir = Path(subject_dir)
    rows: list[dict] = []
    points: list[tuple[str, dict]] = []
    folders = find_sessions(subject_dir)
    metas = []
    for folder in folders:
        try:
            metas.append((read_session_json(folder).get("start") or "", folder))
        except NeuroadaptError:
            metas.append(("", folder))
    for n, (_, folder) in enumerate(sorted(metas), start=1):
        echo(f"session {n}/{len(folders)}: {folder.name}")
        try:
            meta, tables, _ = _load_session(folder, lambda _s: None, want_raw=False)
        except NeuroadaptError as exc:
            rows.append({"session": folder.name, "problem": str(exc)})
            continue
        summ = summarise(tables)
        eff = summ["effects"][0] if summ["effects"] else None
        label = str(meta.get("start", folder.name))[:16]
        points.append((label, summ))
        rows.append(
            {
                "session": folder.name,
                "started": meta.get("start", ""),
                "protocol": meta.get("protocol", {}).get("name", ""),
                "ended": meta.get("ended", ""),
                "reward rate": _pct(summ["reward_rate"]),
                "artifact fraction": _pct(summ["artifact_fraction"]),
                "Hedges' g": None if eff is None else eff["g"],
                "95 % CI": "n/a"
                if eff is None or eff["ci"] is None
                else f"[{eff['ci'][0]:.2f}, {eff['ci'][1]:.2f}]",
            }
        )
    with mne.utils.use_log_level("error"):
        report = mne.Report(
            title=f"neuroadapt subject {subject_dir.name}", image_format="png", verbose="error"
        )
    report.add_html(_table(rows), title="Sessions", section="Sessions")
    if points:
        fig = _figure(9, 5.5)
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        x = np.arange(len(points))
        ax1.plot(
            x,
            [p[1]["reward_rate"] if p[1]["reward_rate"] is not None else np.nan for p in points],
            "o-",
            color="#3a9d5d",
        )
        ax1.set_ylim(0, 1)
        ax1.set_ylabel("reward rate (training)")
        effects = [p[1]["effects"][0] if p[1]["effects"] else None for p in points]
        g = np.array([np.nan if e is None or e["g"] is None else e["g"] for e in effects])
        lo = np.array([np.nan if e is None or e["ci"] is None else e["ci"][0] for e in effects])
        hi = np.array([np.nan if e is None or e["ci"] is None else e["ci"][1] for e in effects])
        ax2.errorbar(
            x, g, yerr=np.abs(np.vstack([g - lo, hi - g])), fmt="o-", color="#1f4e79", capsize=3
        )
        ax2.axhline(0, color="k", lw=0.6)
        name = next((e["feature"] for e in effects if e is not None), "feature")
        ax2.set_ylabel(f"Hedges' g, {name}\n(training − baseline)")
        ax2.set_xticks(x, [p[0] for p in points], rotation=30, ha="right", fontsize=8)
        report.add_figure(
            fig,
            title="Learning curve",
            section="Learning curve",
            caption="Per session in date order: fraction of training windows "
            "rewarded, and the training-vs-baseline effect size of the "
            "first feature with its 95 % BCa bootstrap interval.",
        )
    out = Path(out) if out is not None else subject_dir / "subject_report.html"
    echo(f"writing {out}")
    return _save(report, out)


# -- command line ---------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    if (args.session is None) == (args.subject is None):
        raise NeuroadaptError("report: give a SESSION folder or --subject DIR (one of them)")
    if args.subject is not None:
        out = write_subject_report(args.subject, args.out, echo=_progress)
    else:
        out = write_report(args.session, args.out, echo=_progress)
    print(out)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report of a session or of a subject",
        description="Write a self-contained HTML report (opens offline): for "
        "SESSION, <SESSION>/report.html with phases, signal quality, "
        "features, reward rate, artifacts, baseline-vs-training "
        "effect size and spectra; with --subject DIR, "
        "DIR/subject_report.html with every session under DIR in "
        "date order (learning curve). A session whose supervisor "
        "died is marked crashed first; a running one is refused.",
    )
    p.add_argument("session", type=Path, nargs="?", metavar="SESSION", help="session folder")
    p.add_argument(
        "--subject",
        type=Path,
        metavar="DIR",
        help="a subject's folder of sessions (e.g. sessions/S01)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the report (default: in the session or subject folder)",
    )
    p.set_defaults(func=cmd_report)


__all__ = [
    "Effect",
    "PhaseStats",
    "add_parser",
    "build_report",
    "effect_sizes",
    "find_sessions",
    "hedges_g",
    "phase_stats",
    "summarise",
    "write_replay_report",
    "write_report",
    "write_subject_report",
]

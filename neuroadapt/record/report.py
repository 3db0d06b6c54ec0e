"""A session report a clinician can read: one self-contained HTML file.

Plots (PNG, embedded) of the feedback features with the phases shaded, the
scene parameters as commanded and as rendered, and the EEG spectrum per
phase; a table per phase. No external assets: the file opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from .xdf import Session, load_session_xdf

_PHASE_COLOURS = {"baseline": "#d9e6f2", "training": "#dcefdc", "rest": "#f2ecd9"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _shade(ax, phases, t0) -> None:
    for name, kind, a, b in phases:
        ax.axvspan(a - t0, b - t0, color=_PHASE_COLOURS.get(kind, "#eeeeee"), lw=0)
        ax.text((a + b) / 2 - t0, 1.0, name, transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8)


def _phase_table(session: Session, phases) -> list[dict]:
    rows = []
    feats = session.features
    ctl = session.control
    for name, kind, a, b in phases:
        row: dict = {"phase": name, "kind": kind, "duration_s": round(b - a, 1)}
        if feats is not None and len(feats.times):
            sel = (feats.times >= a) & (feats.times < b)
            row["windows"] = int(sel.sum())
            for i, label in enumerate(feats.labels):
                vals = np.asarray(feats.data)[sel, i]
                row[f"mean {label}"] = round(float(np.nanmean(vals)), 4) if vals.size else None
        if ctl is not None and "hold" in ctl.labels and len(ctl.times):
            sel = (ctl.times >= a) & (ctl.times < b)
            held = ctl.column("hold")[sel]
            row["held %"] = round(100 * float(held.mean()), 1) if held.size else None
        rows.append(row)
    return rows


def write_report(session_dir: Path) -> Path:
    """Write ``report.html`` for a session folder and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import welch

    session_dir = Path(session_dir)
    session = load_session_xdf(session_dir / "session.xdf")
    meta = json.loads((session_dir / "session.json").read_text())
    phases = session.phases()
    t_ref = [s.times[0] for s in (session.eeg, session.features) if s is not None and len(s.times)]
    t0 = phases[0][2] if phases else (min(t_ref) if t_ref else 0.0)
    figures: list[tuple[str, str]] = []

    if session.features is not None and len(session.features.times):
        fig, ax = plt.subplots(figsize=(10, 3))
        _shade(ax, phases, t0)
        for i, label in enumerate(session.features.labels):
            ax.plot(session.features.times - t0, np.asarray(session.features.data)[:, i],
                    lw=1, label=label)
        ax.set_xlabel("time from session start (s)")
        ax.set_ylabel("feature value")
        ax.legend(loc="upper left", fontsize=8)
        figures.append(("Feedback features", _png(fig)))

    if session.control is not None and len(session.control.times):
        fig, ax = plt.subplots(figsize=(10, 3))
        _shade(ax, phases, t0)
        params = [lb for lb in session.control.labels
                  if lb not in ("feedback", "hold", "phase_index")]
        for p in params:
            line, = ax.plot(session.control.times - t0, session.control.column(p), lw=1.5,
                            label=f"{p} (commanded)")
            if session.scene is not None and p in session.scene.labels and len(session.scene.times):
                ax.plot(session.scene.times - t0, session.scene.column(p), lw=0.8, ls="--",
                        color=line.get_color(), label=f"{p} (rendered)")
        ax.set_xlabel("time from session start (s)")
        ax.set_ylabel("scene parameter")
        ax.legend(loc="upper left", fontsize=7, ncol=2)
        figures.append(("Scene parameters", _png(fig)))

    if session.eeg is not None and len(session.eeg.times) > 256:
        eeg = np.asarray(session.eeg.data, dtype=float)
        sf = session.eeg.sfreq or 250.0
        occ = [i for i, lb in enumerate(session.eeg.labels) if lb.upper().startswith("O")]
        picks = occ or list(range(min(3, eeg.shape[1])))
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, kind, a, b in phases:
            sel = (session.eeg.times >= a) & (session.eeg.times < b)
            if sel.sum() < 2 * sf:
                continue
            f, pxx = welch(eeg[sel][:, picks] - eeg[sel][:, picks].mean(0), sf,
                           nperseg=int(2 * sf), axis=0)
            keep = (f >= 1) & (f <= 40)
            ax.semilogy(f[keep], pxx[keep].mean(1), label=f"{name} ({kind})")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("PSD (µV²/Hz)")
        ax.set_title(f"EEG spectrum, {', '.join(session.eeg.labels[i] for i in picks)}",
                     fontsize=9)
        ax.legend(fontsize=8)
        figures.append(("EEG spectrum per phase", _png(fig)))

    rows = _phase_table(session, phases)
    notes = [ev.get("text", "") for _, ev in session.marker_events() if ev.get("event") == "note"]
    e = html.escape
    cols = list(dict.fromkeys(k for r in rows for k in r))
    table = "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows) + "</table>"
    proto = meta.get("protocol", {})
    body = [
        f"<h1>Session {e(meta.get('session_id', ''))}</h1>",
        f"<p>Subject <b>{e(str(meta.get('subject', '')))}</b> &middot; protocol "
        f"<b>{e(str(proto.get('name', '')))}</b> {e(str(proto.get('version', '')))} &middot; "
        f"started {e(str(meta.get('start', '')))} &middot; ended "
        f"<b>{e(str(meta.get('ended', '')))}</b> {e(str(meta.get('end') or ''))}</p>",
        "<h2>Phases</h2>", table,
    ]
    for title, png in figures:
        body.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{png}'>")
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    sw = meta.get("software", {})
    body.append("<h2>Software</h2><p>" + ", ".join(f"{e(k)} {e(str(v))}" for k, v in sw.items())
                + "</p>")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>neuroadapt session {e(meta.get('session_id', ''))}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#223}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:4px 8px;"
            "font-size:13px}img{max-width:100%}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    out = session_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out

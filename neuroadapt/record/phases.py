"""Per-phase numbers of a session's tables (replayed or recorded live).

One definition for the replay's ``summary.json``, ``replay --compare`` and the
reports. Pure: reads :class:`~neuroadapt.record.tables.SessionTables`, returns
plain dicts ready for JSON. Phases come from the ``phase_start`` /
``phase_end`` markers; a window belongs to the phase whose ``phase_index`` its
control row carries.
"""

from __future__ import annotations

import math

import numpy as np

from neuroadapt.record.tables import NA, SessionTables


def pair_windows(ta: np.ndarray, tb: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(ia, ib)`` pairing two sorted time columns, nearest within ``tolerance``.

    The features and control rows of one window carry the same time in a
    replay; in a live recording they come through two streams whose clock
    corrections differ by microseconds, hence the tolerance.
    """
    ta, tb = np.asarray(ta, dtype=float), np.asarray(tb, dtype=float)
    if not len(ta) or not len(tb):
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    j = np.clip(np.searchsorted(tb, ta), 0, len(tb) - 1)
    left = np.clip(j - 1, 0, len(tb) - 1)
    j = np.where(np.abs(ta - tb[left]) <= np.abs(ta - tb[j]), left, j)
    ok = np.abs(ta - tb[j]) <= tolerance
    return np.flatnonzero(ok), j[ok]


def hop_of(times) -> float:
    """Median step of a time column (1 s when it has fewer than two rows)."""
    times = np.asarray(times, dtype=float)
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def phases(tables: SessionTables) -> list[dict]:
    """``index``, ``name``, ``kind``, ``start``, ``end``, ``rewarded`` of each phase that began.

    A phase still running when the session ended ends at the last window.
    """
    out: dict[int, dict] = {}
    last = max((float(t) for t in tables.features.column("time")), default=0.0)
    for t, ev in tables.marker_events():
        if ev["event"] == "phase_start":
            i = int(ev.get("index", len(out)))
            out[i] = {
                "index": i,
                "name": ev.get("phase"),
                "kind": ev.get("kind"),
                "start": t,
                "end": None,
                "rewarded": bool(ev.get("rewarded", False)),
            }
        elif ev["event"] == "phase_end" and int(ev.get("index", -1)) in out:
            out[int(ev["index"])]["end"] = t
    for p in out.values():
        if p["end"] is None:
            p["end"] = last
    return [out[i] for i in sorted(out, key=lambda i: out[i]["start"])]


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None


def phase_rows(tables: SessionTables) -> list[dict]:
    """Per phase: windows, feature means over usable windows, reward rate, artifacts, holds.

    ``n_windows`` counts the control rows of the phase. A window is usable when
    the features table says ``valid`` (tables from a live recording, which do
    not know, fall back on the control's ``hold``). ``reward_rate`` is the
    fraction of usable windows with the reward rule on, for phases that reward
    (null otherwise: the engine's ``status`` counts the same way);
    ``artifact_fraction`` the fraction of windows an artifact detector flagged;
    ``held_fraction`` the fraction not usable, whatever the reason (artifacts,
    dropouts, a stalled stream, a pause).
    """
    ctl, feats = tables.control, tables.features
    c_time = ctl.floats("time")
    ic, jf = pair_windows(c_time, feats.floats("time"), hop_of(c_time) / 2)
    feature_row = dict(zip(ic.tolist(), jf.tolist(), strict=True))
    f_valid = feats.column("valid")
    f_artifacts = feats.column("artifacts")
    names = tables.feature_names
    f_index = [feats.columns.index(n) for n in names]
    c_index = ctl.column("phase_index")
    c_phase, c_hold, c_reward = ctl.column("phase"), ctl.column("hold"), ctl.column("reward")
    out = []
    for p in phases(tables):
        rows = [
            k
            for k in range(len(ctl))
            if c_index[k] is not None and int(c_index[k]) == p["index"] and c_phase[k] != "end"
        ]
        usable = []
        flagged = 0
        for k in rows:
            valid = f_valid[feature_row[k]] if k in feature_row else None
            usable.append(bool(valid) if valid is not None else not bool(c_hold[k]))
            art = f_artifacts[feature_row[k]] if k in feature_row else None
            flagged += bool(art) and art != NA
        good = [k for k, u in zip(rows, usable, strict=True) if u]
        means = {}
        for name, j in zip(names, f_index, strict=True):
            vals = [feats.rows[feature_row[k]][j] for k in good if k in feature_row]
            means[name] = _mean([math.nan if v is None else float(v) for v in vals])
        rate = None
        if p["rewarded"] and good:
            rate = sum(1 for k in good if c_reward[k]) / len(good)
        out.append(
            {
                "name": p["name"],
                "kind": p["kind"],
                "index": p["index"],
                "start": p["start"],
                "end": p["end"],
                "n_windows": len(rows),
                "feature_means": means,
                "reward_rate": rate,
                "artifact_fraction": flagged / len(rows) if rows else None,
                "held_fraction": (1 - len(good) / len(rows)) if rows else None,
            }
        )
    return out


__all__ = ["hop_of", "pair_windows", "phase_rows", "phases"]

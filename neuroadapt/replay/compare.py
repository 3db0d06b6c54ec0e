"""How two runs on the same data differ: protocol A vs B, or a live session vs its replay.

Windows are paired by time (nearest within half the first run's hop), so two
protocols with the same hop pair every window and a live session pairs with
its replay despite microsecond clock corrections. :func:`compare_tables` is
pure; :func:`read_run`, :func:`plot_comparison` and :func:`write_comparison`
do the I/O.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from neuroadapt.errors import NeuroadaptError
from neuroadapt.record.phases import hop_of, pair_windows, phase_rows
from neuroadapt.record.tables import FILES, SessionTables

COMPARE_PNG = "compare.png"
COMPARE_JSON = "compare.json"
_PHASE_COLOURS = {
    "baseline": "#d9e6f2",
    "training": "#dcefdc",
    "rest": "#f2ecd9",
    "transfer": "#eadcf2",
}


def read_run(folder: Path) -> SessionTables:
    """The tables of a replay folder, or of a recorded session folder (from its XDF).

    Raises
    ------
    NeuroadaptError
        If the folder holds neither the three TSV files nor a ``session.xdf``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NeuroadaptError(f"{folder}: no such folder (give a replay or session folder)")
    if all((folder / name).is_file() for name in FILES.values()):
        return SessionTables.read(folder)
    xdf = folder / "session.xdf"
    if xdf.is_file():
        from neuroadapt.record.tables import from_session
        from neuroadapt.record.xdf import load_session_xdf

        return from_session(load_session_xdf(xdf))
    raise NeuroadaptError(
        f"{folder}: holds neither {', '.join(FILES.values())} "
        f"(a replay) nor session.xdf (a recorded session)"
    )


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def compare_tables(a: SessionTables, b: SessionTables) -> dict:
    """Per-phase numbers side by side, reward agreement, parameter correlations.

    Returns
    -------
    dict
        ``phases``: per phase of A (matched by name in B): feature means, reward
        rate and artifact fraction of both and their difference (B − A);
        ``windows``: paired control windows; ``reward_agreement``: fraction of
        paired windows where both have the same reward state; ``parameters``:
        per common parameter, Pearson correlation and largest absolute
        difference over paired windows; ``features``: the same for common
        features over all paired feature windows.
    """
    rows_a, rows_b = phase_rows(a), phase_rows(b)
    by_name_b: dict[str, list[dict]] = {}
    for r in rows_b:
        by_name_b.setdefault(r["name"], []).append(r)
    common_f = [n for n in a.feature_names if n in b.feature_names]
    phases = []
    for r in rows_a:
        other = by_name_b.get(r["name"], [])
        rb = other.pop(0) if other else None
        entry: dict = {
            "name": r["name"],
            "kind": r["kind"],
            "n_windows": [r["n_windows"], rb["n_windows"] if rb else None],
        }
        for key in ("reward_rate", "artifact_fraction", "held_fraction"):
            va, vb = r[key], rb[key] if rb else None
            entry[key] = [va, vb, _diff(va, vb)]
        entry["feature_means"] = {}
        for n in common_f:
            va, vb = r["feature_means"].get(n), rb["feature_means"].get(n) if rb else None
            entry["feature_means"][n] = [va, vb, _diff(va, vb)]
        phases.append(entry)

    ca, cb = np.asarray(a.control.floats("time")), np.asarray(b.control.floats("time"))
    ia, ib = pair_windows(ca, cb, hop_of(ca) / 2)
    rew_a = np.asarray(a.control.floats("reward"))[ia]
    rew_b = np.asarray(b.control.floats("reward"))[ib]
    agree = float(np.mean(rew_a == rew_b)) if len(ia) else None
    params = {}
    for p in (p for p in a.param_names if p in b.param_names):
        xa = np.asarray(a.control.floats(p))[ia]
        xb = np.asarray(b.control.floats(p))[ib]
        params[p] = {
            "correlation": _corr(xa, xb),
            "max_abs_diff": _finite(np.nanmax(np.abs(xa - xb), initial=-np.inf)),
        }
    fa, fb = np.asarray(a.features.floats("time")), np.asarray(b.features.floats("time"))
    ja, jb = pair_windows(fa, fb, hop_of(fa) / 2)
    feats = {}
    for n in common_f:
        xa = np.asarray(a.features.floats(n))[ja]
        xb = np.asarray(b.features.floats(n))[jb]
        rel = np.abs(xa - xb) / np.maximum(np.abs(xa), 1e-300)
        feats[n] = {
            "correlation": _corr(xa, xb),
            "max_rel_diff": _finite(np.nanmax(rel, initial=-np.inf)),
        }
    return {
        "phases": phases,
        "windows": int(len(ia)),
        "feature_windows": int(len(ja)),
        "reward_agreement": agree,
        "parameters": params,
        "features": feats,
    }


def _fmt(v: float | int | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:+.{digits}g}" if digits < 0 else f"{v:.{digits}g}"


def format_comparison(result: dict, label_a: str = "A", label_b: str = "B") -> str:
    """A plain-text table of :func:`compare_tables`' result."""
    lines = [
        f"A = {label_a}, B = {label_b}",
        f"{'phase':<16} {'measure':<28} {'A':>12} {'B':>12} {'B - A':>12}",
    ]
    for ph in result["phases"]:
        name = ph["name"]
        rows = [
            (
                "windows",
                ph["n_windows"][0],
                ph["n_windows"][1],
                _diff(ph["n_windows"][0], ph["n_windows"][1]),
            )
        ]
        rows += [(f"mean {n}", *v) for n, v in ph["feature_means"].items()]
        rows += [
            ("reward rate", *ph["reward_rate"]),
            ("artifact fraction", *ph["artifact_fraction"]),
            ("held fraction", *ph["held_fraction"]),
        ]
        for measure, va, vb, d in rows:
            lines.append(f"{name:<16} {measure:<28} {_fmt(va):>12} {_fmt(vb):>12} {_fmt(d):>12}")
            name = ""
    lines.append("")
    lines.append(
        f"paired windows: {result['windows']}; reward agreement: {_fmt(result['reward_agreement'])}"
    )
    for p, v in result["parameters"].items():
        lines.append(
            f"parameter {p}: r = {_fmt(v['correlation'])}, max |B - A| = {_fmt(v['max_abs_diff'])}"
        )
    for n, v in result["features"].items():
        lines.append(
            f"feature {n}: r = {_fmt(v['correlation'])}, "
            f"max relative difference = {_fmt(v['max_rel_diff'])}"
        )
    return "\n".join(lines)


def plot_comparison(
    a: SessionTables, b: SessionTables, path: Path, label_a: str = "A", label_b: str = "B"
) -> Path:
    """Control parameters and reward over time for both runs, phases of A shaded (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuroadapt.record.phases import phases

    params = list(dict.fromkeys([*a.param_names, *b.param_names]))
    n = len(params) + 1
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.6 * n + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    shade = phases(a)
    for ax in axes:
        for ph in shade:
            ax.axvspan(
                ph["start"], ph["end"], color=_PHASE_COLOURS.get(ph["kind"], "#eeeeee"), lw=0
            )
    for tables, label, style in ((a, label_a, "-"), (b, label_b, "--")):
        t = tables.control.floats("time")
        for ax, p in zip(axes, params, strict=False):
            if p in tables.param_names:
                ax.plot(t, tables.control.floats(p), style, lw=1.2, label=label)
        axes[-1].step(t, tables.control.floats("reward"), style, where="post", lw=1.2, label=label)
    for ax, p in zip(axes, [*params, "reward"], strict=True):
        ax.set_ylabel(p, fontsize=8)
    for ph in shade:
        axes[0].text(
            (ph["start"] + ph["end"]) / 2,
            1.0,
            ph["name"],
            transform=axes[0].get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s from the recording's first sample)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def write_comparison(folder_a: Path, folder_b: Path, out: Path) -> tuple[str, dict]:
    """Compare two run folders; write ``compare.json`` and ``compare.png`` into ``out``.

    Returns
    -------
    text : str
        The plain table (also for the console).
    result : dict
        What :func:`compare_tables` returned, with the two folders' names.
    """
    a, b = read_run(folder_a), read_run(folder_b)
    la, lb = Path(folder_a).name or "A", Path(folder_b).name or "B"
    if la == lb:
        la, lb = f"A:{la}", f"B:{lb}"
    result = compare_tables(a, b)
    result = {"a": la, "b": lb, **result}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPARE_JSON).write_text(
        json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    plot_comparison(a, b, out / COMPARE_PNG, la, lb)
    return format_comparison(result, la[:12], lb[:12]), result


__all__ = [
    "COMPARE_JSON",
    "COMPARE_PNG",
    "compare_tables",
    "format_comparison",
    "pair_windows",
    "plot_comparison",
    "read_run",
    "write_comparison",
]

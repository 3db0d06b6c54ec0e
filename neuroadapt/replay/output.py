"""Where a replay writes, and what goes into ``summary.json``.

The three tables are byte-identical for the same input and protocol.
``summary.json`` is too except its ``run`` key (wall time and speed of this
run), kept apart so everything else can be compared as text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from neuroadapt import __version__
from neuroadapt.errors import ConfigError
from neuroadapt.protocol import LoadedProtocol
from neuroadapt.record.phases import phase_rows
from neuroadapt.record.tables import FILES
from neuroadapt.replay.inputs import ReplayInput
from neuroadapt.replay.run import ReplayResult

SUMMARY = "summary.json"
REPORT = "report.html"
#: Everything a replay may write into its folder.
OUTPUTS = (*FILES.values(), SUMMARY, REPORT, "compare.json", "compare.png")


def default_out(inp: ReplayInput, loaded: LoadedProtocol, base: Path = Path("replays")) -> Path:
    """``./replays/<input>_<protocol>``, numbered ``-2``, ``-3``... if that exists."""
    stem = f"{inp.label}_{loaded.protocol.protocol.name}"
    out = base / stem
    n = 2
    while out.exists() and any(out.iterdir()):
        out = base / f"{stem}-{n}"
        n += 1
    return out


def prepare_out(out: Path, force: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``force``.

    With ``force`` only the files a replay writes are replaced; nothing else in
    the folder is touched.

    Raises
    ------
    ConfigError
        If ``out`` is a file, or a non-empty folder without ``force``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(
            f"--out {out}: the folder is not empty; choose another or add "
            f"--force to replace its replay files"
        )
    if force and out.is_dir() and (out / "session.xdf").exists():
        raise ConfigError(
            f"--out {out}: is a recorded session folder; replays never write into one"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:  # stale results of an earlier replay must not survive --force
        (out / name).unlink(missing_ok=True)
    return out


def _clean(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def summary(
    result: ReplayResult, loaded: LoadedProtocol, inp: ReplayInput, run: dict | None = None
) -> dict:
    """The content of ``summary.json`` (no path, no names: the input's file name only)."""
    proto = loaded.protocol.protocol
    out = {
        "neuroadapt": __version__,
        "input": {
            "file": inp.file_name,
            "format": inp.format,
            "sfreq": inp.sfreq,
            "channels": list(inp.ch_names),
            "n_samples": int(inp.data.shape[0]),
            "duration": inp.duration,
            "recorded_session": inp.session is not None,
            "skipped_samples": result.skipped,
        },
        "protocol": {
            "name": proto.name,
            "version": proto.version,
            "sha256": loaded.sha256,
            "file": Path(loaded.path).name,
        },
        "start": result.start,
        "ended": result.ended,
        "n_windows": result.n_windows,
        "notes": list(result.notes),
        "phases": phase_rows(result.tables),
    }
    if run is not None:
        out["run"] = run
    return _clean(out)


def write_outputs(
    out: Path,
    result: ReplayResult,
    loaded: LoadedProtocol,
    inp: ReplayInput,
    run: dict | None = None,
) -> dict[str, Path]:
    """Write the three tables and ``summary.json`` into ``out``; returns their paths."""
    paths = result.tables.write(out)
    path = Path(out) / SUMMARY
    text = json.dumps(summary(result, loaded, inp, run), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    paths["summary"] = path
    return paths


def write_report(out: Path, inp: ReplayInput | None = None) -> tuple[Path | None, str]:
    """``report.html`` for the replay folder (with spectra when the EEG is given).

    Returns (path, note): the note says why no report was written, if so.
    """
    try:
        from neuroadapt.record.report import write_replay_report

        raw = None
        if inp is not None:
            import mne

            info = mne.create_info(inp.ch_names, inp.sfreq, inp.ch_types, verbose="error")
            raw = mne.io.RawArray(inp.data.T * 1e-6, info, verbose="error")
        return write_replay_report(Path(out), raw), ""
    except Exception as exc:  # the report is a convenience; the tables are written
        return None, f"report.html not written: {type(exc).__name__}: {exc}"


__all__ = [
    "OUTPUTS",
    "REPORT",
    "SUMMARY",
    "default_out",
    "prepare_out",
    "summary",
    "write_outputs",
    "write_report",
]

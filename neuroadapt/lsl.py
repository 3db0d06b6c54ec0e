"""Small helpers shared by every LSL producer and consumer in the package.

All time series leave the engine as LSL streams whose channel labels and units
sit in ``desc/channels/channel`` (the XDF convention that pyxdf, MNE and
LabRecorder understand).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

MACHINE_SCOPE_CONFIG = Path(str(files("neuroadapt") / "data" / "lsl_machine.cfg"))
QUIET_CONFIG = Path(str(files("neuroadapt") / "data" / "lsl_quiet.cfg"))
#: Where liblsl looks for a configuration file when ``LSLAPICFG`` is not set.
USER_CONFIGS = (
    Path("lsl_api.cfg"),
    Path.home() / "lsl_api" / "lsl_api.cfg",
    Path("/etc/lsl_api/lsl_api.cfg"),
)

STREAM_FEATURES = "neuroadapt-features"
STREAM_CONTROL = "neuroadapt-control"
STREAM_MARKERS = "neuroadapt-markers"
STREAM_SCENE = "neuroadapt-scene"

#: How long a closing producer keeps its outlets while someone listens (s).
OUTLET_LINGER = 0.5


def linger_for_consumers(*outlets: object, seconds: float = OUTLET_LINGER) -> bool:
    """Wait ``seconds`` before outlets are released, if any of them has a consumer.

    pylsl destroys a liblsl outlet with its last reference, and liblsl then
    drops what it has not sent yet: a producer that ends (the engine's
    ``session_end`` marker, a played file's last samples) keeps its outlets
    this long so a listening recorder receives them. Returns whether it waited.
    """
    if any(o is not None and o.have_consumers() for o in outlets):
        time.sleep(seconds)
        return True
    return False


def use_machine_scope() -> None:
    """Restrict LSL discovery to this machine unless the user chose a config.

    Must run before the first LSL call of the process (liblsl reads its
    configuration once); child processes inherit it through the environment.
    """
    os.environ.setdefault("LSLAPICFG", str(MACHINE_SCOPE_CONFIG))


def use_quiet_logging() -> None:
    """Keep liblsl's INFO lines off the terminal, unless the user has an LSL config.

    A user's own ``lsl_api.cfg`` (or ``LSLAPICFG``) is left in charge: it may say
    where a headset on another computer is. Must run before the first LSL call.
    """
    if "LSLAPICFG" not in os.environ and not any(p.is_file() for p in USER_CONFIGS):
        os.environ["LSLAPICFG"] = str(QUIET_CONFIG)


def make_stream_info(
    name: str,
    stype: str,
    ch_names: Sequence[str],
    sfreq: float,
    fmt: str,
    source_id: str,
    *,
    units: str | Sequence[str] | None = None,
    ch_types: str | Sequence[str] | None = None,
):
    """Build a :class:`pylsl.StreamInfo` with channel labels, units and types in its desc.

    Parameters
    ----------
    name, stype : str
        Stream name and content type (``"EEG"``, ``"Markers"``, ...).
    ch_names : sequence of str
        One label per channel.
    sfreq : float
        Nominal sampling rate in Hz; 0 for irregular streams.
    fmt : str
        LSL channel format: ``"float32"``, ``"double64"``, ``"string"``, ``"int32"``.
    source_id : str
        Unique id; for session streams it carries the session id.
    units, ch_types : str or sequence of str, optional
        One value for all channels, or one per channel.

    Returns
    -------
    info : pylsl.StreamInfo
    """
    import pylsl

    n = len(ch_names)
    info = pylsl.StreamInfo(name, stype, n, float(sfreq), fmt, source_id)
    units_l = _per_channel(units, n)
    types_l = _per_channel(ch_types, n)
    chans = info.desc().append_child("channels")
    for i, label in enumerate(ch_names):
        ch = chans.append_child("channel")
        ch.append_child_value("label", str(label))
        if units_l[i] is not None:
            ch.append_child_value("unit", units_l[i])
        if types_l[i] is not None:
            ch.append_child_value("type", types_l[i])
    acq = info.desc().append_child("acquisition")
    acq.append_child_value("manufacturer", "neuroadapt")
    return info


def channel_labels(info) -> list[str]:
    """Channel labels from a stream's desc, or ``ch1..chN`` when it has none.

    Parameters
    ----------
    info : pylsl.StreamInfo
        A full stream info (from ``inlet.info()``), not a resolve result.
    """
    labels: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(labels) < info.channel_count():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    if len(labels) != info.channel_count() or not all(labels):
        return [f"ch{i + 1}" for i in range(info.channel_count())]
    return labels


def _per_channel(value, n: int) -> list:
    if value is None or isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"expected {n} values, got {len(values)}")
    return values


def bus_endpoints(info, timeout: float = 5.0) -> dict[str, str]:
    """The zmq endpoints an engine announces in its features stream's desc.

    Parameters
    ----------
    info : pylsl.StreamInfo
        A resolve result for a ``neuroadapt-features`` stream.
    timeout : float
        Seconds to wait for the full stream info.

    Returns
    -------
    endpoints : dict
        ``{"pub": ..., "commands": ...}``.
    """
    import pylsl

    from neuroadapt.errors import StreamError

    inlet = pylsl.StreamInlet(info)
    try:
        full = inlet.info(timeout)
    finally:
        inlet.close_stream()
    node = full.desc().child("bus")
    out = {k: node.child_value(k) for k in ("pub", "commands")}
    if not all(out.values()):
        raise StreamError(
            f"stream {info.name()!r} ({info.source_id()}) does not announce its bus endpoints"
        )
    return out


def channel_types(info) -> list[str]:
    """Channel types from a stream's desc, lower-case (``eeg``, ``misc``, ...).

    Channels without a type take the stream's type when it is EEG, else ``misc``.
    """
    default = "eeg" if info.type().upper() == "EEG" else "misc"
    types: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(types) < info.channel_count():
        types.append((ch.child_value("type") or default).lower())
        ch = ch.next_sibling("channel")
    types += [default] * (info.channel_count() - len(types))
    return types

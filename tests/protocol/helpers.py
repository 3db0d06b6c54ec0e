"""Build protocol engines from text and drive them with feature arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neuroadapt.protocol import LoadedProtocol, ProtocolEngine, parse_protocol
from neuroadapt.messages import Control
from neuroadapt.protocol.sham import ShamTrace

PARAMS = ("fog_density", "light_warmth", "water_calm", "sun_height")


def engine_for(text: str, sham: ShamTrace | None = None) -> ProtocolEngine:
    """An engine for protocol text, with the lagoon's parameters all 0..1, default 0.5."""
    p = parse_protocol(text)
    mapped = [m.parameter for m in p.mappings]
    loaded = LoadedProtocol(
        p,
        None,
        text,
        "0" * 64,  # type: ignore[arg-type]
        outputs={k: (0.0, 1.0) for k in mapped},
        initial=dict.fromkeys(mapped, 0.5),
        sham=sham,
    )
    return ProtocolEngine(loaded)


def drive(
    engine: ProtocolEngine,
    features: Mapping[str, Sequence[float]],
    *,
    t0: float = 0.0,
    hop: float = 0.25,
    artifacts: Sequence[Sequence[str]] | None = None,
    valid: Sequence[bool] | None = None,
) -> list[Control]:
    """Start at ``t0`` and step once per row of ``features`` (columns by name)."""
    engine.start(t0)
    names = list(features)
    n = len(next(iter(features.values())))
    cols = {k: np.asarray(v, dtype=float) for k, v in features.items()}
    out = []
    for i in range(n):
        out.append(
            engine.step(
                {k: float(cols[k][i]) for k in names},
                t0 + (i + 1) * hop,
                artifacts=artifacts[i] if artifacts is not None else None,
                valid=valid[i] if valid is not None else True,
            )
        )
    return out


def reward_episodes(controls: Sequence[Control]) -> list[tuple[float, float]]:
    """(onset, offset) data times of every reward episode of the live rule."""
    eps, on = [], None
    for c in controls:
        if c.reward_rule and on is None:
            on = c.t
        elif not c.reward_rule and on is not None:
            eps.append((on, c.t))
            on = None
    return eps

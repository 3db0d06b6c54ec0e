"""The built-in demonstration: a whole session on the synthetic headset.

The shipped protocol is run with its phases scaled to ``--duration`` seconds;
the simulated brain keeps occipital alpha steady through the baseline, then
raises it in steps during training, so the scene visibly follows.
"""

from __future__ import annotations

from pathlib import Path

from neuroadapt.paths import find_protocol
from neuroadapt.protocol import LoadedProtocol, load_protocol
from neuroadapt.supervisor import SessionPlan

# Seconds from the simulator's start to the protocol's start (engine, console,
# scene and recorder start-up, then the signal check). The supervisor starts the
# protocol no earlier than this, so the synthetic brain's script lines up with
# the phases; only a start-up slower than this shifts the alpha steps earlier.
STARTUP_ESTIMATE = 20.0


def simulator_script(baseline_end: float, training: float) -> str:
    """A simulator script (TOML) with alpha steady, then four steps up to 3x.

    Parameters
    ----------
    baseline_end : float
        Simulator time (s) at which the baseline is expected to end.
    training : float
        Length of the training phase in seconds.
    """
    lines = [
        "# Synthetic brain of `neuroadapt demo`: steady, then alpha rises in steps.",
        "[[step]]",
        "at = 0.0",
        "alpha = 1.0",
        "theta = 1.0",
        "beta = 1.0",
        "",
    ]
    for k, level in enumerate((1.5, 2.0, 2.5, 3.0)):
        at = baseline_end + training * (0.1 + 0.18 * k)
        lines += ["[[step]]", f"at = {at:.1f}", f"alpha = {level}", "ramp = 3.0", ""]
    return "\n".join(lines)


def demo_plan(
    *,
    duration: float,
    headless: bool,
    out: Path,
    protocol: str,
    seed: int,
    subject: str,
    scene: str | None,
    console: bool = False,
    **options,
) -> tuple[SessionPlan, str]:
    """Build the demo's session plan and its simulator script text.

    ``options`` are further :class:`SessionPlan` fields (console host and port,
    ``linger``, ``vr``).
    """
    original = load_protocol(find_protocol(protocol))
    factor = duration / original.protocol.duration
    scaled = original.protocol.scaled(factor)
    text = scaled.to_toml(
        f"{original.path.name} with every phase scaled by {factor:.4g} to last {duration:g} s,\n"
        f"as run by `neuroadapt demo --duration {duration:g}` (sha256 of the original: "
        f"{original.sha256})"
    )
    loaded = LoadedProtocol(
        scaled, original.path, text, original.sha256, original.outputs, original.initial
    )
    calib = scaled.normalisation.from_phase
    names = [p.name for p in scaled.phases]
    baseline_end = STARTUP_ESTIMATE + sum(
        p.duration for p in scaled.phases[: names.index(calib) + 1]
    )
    training = sum(p.duration for p in scaled.phases if p.kind == "training")
    script = simulator_script(baseline_end, training)
    plan = SessionPlan(
        loaded=loaded,
        protocol_text=text,
        subject=subject,
        out=out,
        scene=scene or scaled.protocol.scene,
        headless=headless,
        stream={},
        simulate=["--seed", str(seed), "--duration", f"{STARTUP_ESTIMATE + duration + 60:g}"],
        settings={"demo": True, "duration": duration, "time_scale": factor, "seed": seed},
        autostart=True,
        console=console,
        start_after=STARTUP_ESTIMATE,
        **options,
    )
    return plan, script

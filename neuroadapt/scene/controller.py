"""Comfort layer between the protocol's wishes and what the patient sees.

The protocol may ask for anything at any time: a square wave, a lost EEG
stream, a burst of NaN. A VR scene must still never jump or flicker, so every
parameter glides toward its target with a first-order lag (time constant
``time_constant``) and, on top of that, never moves faster than its
manifest's ``max_rate``. Pure code: no Panda3D, no I/O; the scene app calls
:meth:`SceneController.step` once per frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .manifest import SceneManifest

# Below this fraction of a parameter's range the glide snaps onto its goal, so
# values settle exactly instead of creeping forever in the exponential tail.
_SNAP = 1e-4
# Coasting during hold stops below this fraction of the range per second
# (nothing on screen moves visibly that slowly).
_CREEP = 1e-3


class SceneController:
    """Smooth, rate-limited scene parameters with hold and feedback switches.

    Parameters
    ----------
    manifest : SceneManifest
        Gives each parameter's range, default, neutral value and max rate.
    time_constant : float
        Seconds for the glide to cover 63 % of the way to a new target
        (0: only the rate limit applies).
    max_dt : float
        Longest frame interval honoured in one step. A stalled frame (window
        dragged, machine busy) then moves the scene by at most
        ``max_rate * max_dt`` instead of catching up in one visible jump.

    Notes
    -----
    Precedence: ``hold`` freezes the scene whatever else is asked; otherwise,
    with feedback off the goal is every parameter's neutral value; otherwise
    it is the last target received. Targets keep arriving during hold and
    with feedback off, so the scene resumes toward the latest wish.
    """

    def __init__(self, manifest: SceneManifest, *, time_constant: float = 0.5,
                 max_dt: float = 0.1) -> None:
        if not (math.isfinite(time_constant) and time_constant >= 0):
            raise ValueError(f"time_constant must be a finite number >= 0, got {time_constant!r}")
        if not (math.isfinite(max_dt) and max_dt > 0):
            raise ValueError(f"max_dt must be a finite number > 0, got {max_dt!r}")
        params = manifest.parameters
        self.manifest = manifest
        self.time_constant = float(time_constant)
        self.max_dt = float(max_dt)
        self._names = tuple(p.name for p in params)
        self._index = {name: i for i, name in enumerate(self._names)}
        self._low = np.array([p.low for p in params], dtype=float)
        self._high = np.array([p.high for p in params], dtype=float)
        self._rate = np.array([p.max_rate for p in params], dtype=float)
        self._neutral = np.array([p.neutral for p in params], dtype=float)
        self._snap = _SNAP * (self._high - self._low)
        self._creep = _CREEP * (self._high - self._low)
        self._target = np.array([p.default for p in params], dtype=float)
        self._applied = self._target.copy()
        self._velocity = np.zeros_like(self._target)
        self._feedback = True
        self._hold = False
        self.unknown = 0
        """Number of target entries ignored because the scene has no such parameter."""
        self.invalid = 0
        """Number of target entries ignored because the value was not a finite number."""
        self.unknown_names: set[str] = set()
        """The distinct unknown names seen, for a one-time warning."""

    # -- inputs -------------------------------------------------------------------------

    def set_targets(self, values: Mapping[str, object]) -> int:
        """Set new targets; values are clipped to each parameter's range.

        Unknown names and values that are not finite numbers (``None``, NaN,
        text) are ignored and counted in :attr:`unknown` and :attr:`invalid`;
        this never raises, since a live session must survive a bad message.

        Parameters
        ----------
        values : mapping of str to float
            Parameter name to wished value; parameters not named keep their target.

        Returns
        -------
        n : int
            Number of targets accepted.
        """
        accepted = 0
        for name, value in values.items():
            i = self._index.get(name)
            if i is None:
                self.unknown += 1
                self.unknown_names.add(str(name))
                continue
            # bool is an int in Python, but True as a fog density is a sender bug.
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                self.invalid += 1
                continue
            x = float(value)
            if not math.isfinite(x):
                self.invalid += 1
                continue
            self._target[i] = min(max(x, self._low[i]), self._high[i])
            accepted += 1
        return accepted

    def set_feedback(self, on: bool) -> None:
        """Feedback off: glide to every parameter's neutral value (targets are kept)."""
        self._feedback = bool(on)

    def set_hold(self, on: bool) -> None:
        """Hold on: ease to a stop and keep the current state until released."""
        self._hold = bool(on)

    def reset(self, values: Mapping[str, float] | None = None) -> None:
        """Jump straight to defaults overridden by ``values`` (clipped), at rest.

        Only for the moment before anything is on screen (e.g. ``--set`` at
        start-up); during a session use :meth:`set_targets`.
        """
        self._target = np.array([p.default for p in self.manifest.parameters], dtype=float)
        if values:
            self.set_targets(values)
        self._applied = self._target.copy()
        self._velocity[:] = 0.0

    # -- per frame ----------------------------------------------------------------------

    def step(self, dt: float) -> dict[str, float]:
        """Advance by ``dt`` seconds and return the applied values.

        Each parameter moves by at most ``max_rate * min(dt, max_dt)``.

        Parameters
        ----------
        dt : float
            Seconds since the previous step; zero, negative or non-finite
            intervals leave the scene unchanged.

        Returns
        -------
        applied : dict of str to float
            Every parameter, in manifest order.
        """
        if not (math.isfinite(dt) and dt > 0):
            return self.applied
        dt = min(dt, self.max_dt)
        limit = self._rate * dt
        if self._hold:
            # Coast on the current velocity, decaying fast: the scene settles a
            # hair past where hold began instead of stopping dead mid-motion.
            stop_tau = self.time_constant / 2
            decay = math.exp(-dt / stop_tau) if stop_tau > 0 else 0.0
            self._velocity *= decay
            self._velocity[np.abs(self._velocity) < self._creep] = 0.0
            delta = np.clip(self._velocity * dt, -limit, limit)
        else:
            goal = self._target if self._feedback else self._neutral
            gap = goal - self._applied
            alpha = -math.expm1(-dt / self.time_constant) if self.time_constant > 0 else 1.0
            delta = np.clip(gap * alpha, -limit, limit)
            # Snap the last tiny remainder when it is within this frame's allowance.
            close = (np.abs(gap - delta) < self._snap) & (np.abs(gap) <= limit)
            delta = np.where(close, gap, delta)
        new = np.clip(self._applied + delta, self._low, self._high)
        self._velocity = (new - self._applied) / dt
        self._applied = new
        return self.applied

    # -- state --------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in manifest order."""
        return self._names

    @property
    def applied(self) -> dict[str, float]:
        """The values currently shown, in manifest order."""
        return dict(zip(self._names, self._applied.tolist(), strict=True))

    @property
    def goal(self) -> dict[str, float]:
        """Where the scene is heading now (neutral values when feedback is off)."""
        goal = self._target if self._feedback else self._neutral
        return dict(zip(self._names, goal.tolist(), strict=True))

    @property
    def targets(self) -> dict[str, float]:
        """The last targets received (clipped), whatever feedback and hold say."""
        return dict(zip(self._names, self._target.tolist(), strict=True))

    @property
    def feedback(self) -> bool:
        """Whether the scene follows the targets (False: neutral values)."""
        return self._feedback

    @property
    def hold(self) -> bool:
        """Whether the scene is frozen."""
        return self._hold

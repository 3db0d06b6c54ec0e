"""Comfort layer between the protocol's wishes and what the patient sees.

The protocol may ask for anything at any time: a square wave, a lost EEG
stream, a burst of NaN. A VR scene must still never jump or flicker, so every
parameter glides toward its target with a first-order lag (time constant
``time_constant``) and, on top of that, never moves faster than its
manifest's ``max_rate``. Pure code: no Panda3D, no I/O; the scene app calls
:meth:`SceneController.step` once per frame.

Flicker guard (photosensitivity: no luminance change may repeat at 3-30 Hz).
The rate limit alone lets a parameter follow a fast square wave as a
triangle of peak-to-peak ``max_rate / (2 f)``. On top of it, every parameter
marked ``luminance`` in its manifest (the default) changes its *speed* by at
most ``a = flicker_guard * min(max_rate, 0.15 * span)`` per second (an
acceleration limit): an oscillation at ``f`` then has a peak-to-peak of at
most about ``a / (8 f**2)``, i.e. 0.8 % of the range at 3 Hz and 0.08 % at
10 Hz with the default 4/s, whatever the control stream does. A guarded
parameter also brakes before the ends of its range rather than hitting them
(a hit would stop it dead). The glide and hold slow down no faster than
``2 max_rate`` and ``4 max_rate`` per second, so they are unchanged but for
a start that takes up to 0.25 s to reach full speed; parameters faster than
15 % of their range per second turn with a small, smooth overshoot.

Gentle exit: :meth:`SceneController.start_gentle_exit` takes every parameter
to its neutral value along a smooth ease (zero speed at both ends) over the
given time, stretched if the rate limit needs longer; then :attr:`exit_done`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from neuroadapt.scene.manifest import SceneManifest

# Below this fraction of a parameter's range the glide snaps onto its goal, so
# values settle exactly instead of creeping forever in the exponential tail.
_SNAP = 1e-4
# Coasting during hold stops below this fraction of the range per second
# (nothing on screen moves visibly that slowly).
_CREEP = 1e-3
# Default flicker guard: largest fall in speed, per second, in units of the
# parameter's speed scale: its max_rate, but at most 15 % of its range per second
# (the lagoon's fastest), so that a scene with fast parameters is guarded too.
FLICKER_GUARD = 4.0
FLICKER_SPEED_SCALE = 0.15
# Default gentle exit, seconds.
GENTLE_EXIT = 60.0


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
    flicker_guard : float or None
        Largest fall in speed of a ``luminance`` parameter, per second, as a
        multiple of its ``max_rate`` (see the module notes); None disables
        the guard (pure rate limit, for tests of the glide alone).

    Notes
    -----
    Precedence: ``hold`` freezes the scene whatever else is asked; otherwise,
    with feedback off the goal is every parameter's neutral value; otherwise
    it is the last target received. Targets keep arriving during hold and
    with feedback off, so the scene resumes toward the latest wish.
    """

    def __init__(
        self,
        manifest: SceneManifest,
        *,
        time_constant: float = 0.5,
        max_dt: float = 0.1,
        flicker_guard: float | None = FLICKER_GUARD,
    ) -> None:
        if not (math.isfinite(time_constant) and time_constant >= 0):
            raise ValueError(f"time_constant must be a finite number >= 0, got {time_constant!r}")
        if not (math.isfinite(max_dt) and max_dt > 0):
            raise ValueError(f"max_dt must be a finite number > 0, got {max_dt!r}")
        if flicker_guard is not None and not (math.isfinite(flicker_guard) and flicker_guard > 0):
            raise ValueError(
                f"flicker_guard must be a finite number > 0 or None, got {flicker_guard!r}"
            )
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
        self.flicker_guard = None if flicker_guard is None else float(flicker_guard)
        guarded = np.array([p.luminance for p in params], dtype=bool)
        # inf: no deceleration limit on parameters that cannot change brightness.
        scale = np.minimum(self._rate, FLICKER_SPEED_SCALE * (self._high - self._low))
        self._decel = np.where(guarded, scale * (self.flicker_guard or math.inf), math.inf)
        self._snap = _SNAP * (self._high - self._low)
        self._creep = _CREEP * (self._high - self._low)
        self._target = np.array([p.default for p in params], dtype=float)
        self._applied = self._target.copy()
        self._velocity = np.zeros_like(self._target)
        self._feedback = True
        self._hold = False
        self._exit_from: np.ndarray | None = None
        self._exit_duration = 0.0
        self._exit_elapsed = 0.0
        self._exit_done = False
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

    def start_gentle_exit(self, duration: float = GENTLE_EXIT) -> float:
        """Ease every parameter to its neutral value over ``duration`` seconds, then stop.

        From now on targets, feedback and hold are ignored. The ease is a
        smoothstep (zero speed at both ends); if it would need a parameter to
        move faster than its ``max_rate``, or to slow down faster than the
        flicker guard allows, the exit takes longer. Calling again re-plans
        from the current values (e.g. to hurry a long exit).

        Parameters
        ----------
        duration : float
            Seconds, > 0.

        Returns
        -------
        duration : float
            The planned duration (at least ``duration``).

        Raises
        ------
        ValueError
            If ``duration`` is not a finite number > 0.
        """
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not (math.isfinite(duration) and duration > 0)
        ):
            raise ValueError(
                f"gentle exit duration must be a finite number of seconds > 0, got {duration!r}"
            )
        gap = np.abs(self._neutral - self._applied)
        # Smoothstep 3s^2 - 2s^3: peak speed 1.5 gap / T, peak acceleration 6 gap / T^2.
        need = float(np.max(1.5 * gap / self._rate, initial=0.0))
        finite = np.isfinite(self._decel)
        if finite.any():
            need = max(
                need, float(np.max(np.sqrt(6 * gap[finite] / self._decel[finite]), initial=0.0))
            )
        self._exit_from = self._applied.copy()
        self._exit_duration = max(float(duration), need)
        self._exit_elapsed = 0.0
        self._exit_done = bool(np.array_equal(self._applied, self._neutral))
        return self._exit_duration

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
        self._exit_from = None
        self._exit_done = False

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
        if self._exit_from is not None:
            delta = self._exit_delta(dt, limit)
        elif self._hold:
            # Coast on the current velocity, decaying fast: the scene settles a
            # hair past where hold began instead of stopping dead mid-motion.
            stop_tau = self.time_constant / 2
            decay = math.exp(-dt / stop_tau) if stop_tau > 0 else 0.0
            velocity = self._velocity * decay
            velocity[np.abs(velocity) < self._creep] = 0.0
            delta = np.clip(velocity * dt, -limit, limit)
        else:
            goal = self._target if self._feedback else self._neutral
            gap = goal - self._applied
            alpha = -math.expm1(-dt / self.time_constant) if self.time_constant > 0 else 1.0
            delta = np.clip(gap * alpha, -limit, limit)
            # Snap the last tiny remainder when it is within this frame's allowance.
            close = (np.abs(gap - delta) < self._snap) & (np.abs(gap) <= limit)
            delta = np.where(close, gap, delta)
        delta = self._guard_flicker(delta, dt)
        new = np.clip(self._applied + delta, self._low, self._high)
        self._velocity = (new - self._applied) / dt
        self._applied = new
        if (
            self._exit_from is not None
            and not self._exit_done
            and self._exit_elapsed >= self._exit_duration
            and np.array_equal(new, self._neutral)
        ):
            self._exit_done = True
        return self.applied

    def _guard_flicker(self, delta: np.ndarray, dt: float) -> np.ndarray:
        """Limit each guarded parameter's change of speed (so any turn) to ``accel * dt``."""
        slack = self._decel * dt
        v = np.clip(delta / dt, self._velocity - slack, self._velocity + slack)
        # Brake before the ends of the range: hitting one would stop the
        # parameter dead (a reset of its speed that an adversary could repeat).
        finite = np.isfinite(self._decel)
        if finite.any():
            x = self._applied
            up = np.sqrt(2 * self._decel[finite] * (self._high - x)[finite])
            down = np.sqrt(2 * self._decel[finite] * (x - self._low)[finite])
            v[finite] = np.clip(v[finite], -down, up)
        return v * dt

    def _exit_delta(self, dt: float, limit: np.ndarray) -> np.ndarray:
        self._exit_elapsed += dt
        s = min(self._exit_elapsed / self._exit_duration, 1.0)
        ease = s * s * (3.0 - 2.0 * s)
        path = self._exit_from + (self._neutral - self._exit_from) * ease
        gap = path - self._applied
        delta = np.clip(gap, -limit, limit)
        if s >= 1.0:  # land exactly: the last remainder is below the snap size
            close = np.abs(self._neutral - self._applied - delta) < self._snap
            delta = np.where(close & (np.abs(gap) <= limit), gap, delta)
        return delta

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

    @property
    def exiting(self) -> bool:
        """Whether a gentle exit has started."""
        return self._exit_from is not None

    @property
    def exit_done(self) -> bool:
        """Whether the gentle exit has brought every parameter to its neutral value."""
        return self._exit_done

    @property
    def exit_progress(self) -> float:
        """Fraction of the planned gentle exit elapsed (0 before it starts, 1 at the end)."""
        if self._exit_from is None:
            return 0.0
        return min(self._exit_elapsed / self._exit_duration, 1.0)

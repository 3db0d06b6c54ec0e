"""Comfort guards the app enforces on every scene, whatever its code does.

The :class:`~neuroadapt.scene.controller.SceneController` guards the
parameters (rate limit, flicker guard, hold, gentle exit). This module guards
the camera: a therapy scene may place it, and may drift it slowly, but never
move or turn it fast enough to give a seated patient the illusion of
self-motion (vection), the main cause of VR sickness. Pure code: positions and
quaternions as NumPy arrays, no Panda3D.
"""

from __future__ import annotations

import math

import numpy as np

# Slower than a slow walk, and a turn of under a degree a second: both well
# under what seated VR comfort guidelines tolerate for motion the patient does
# not cause.
MAX_CAMERA_SPEED = 0.2  # metres (scene units) per second
MAX_CAMERA_TURN = 1.0  # degrees per second


class CameraGuard:
    """Clamp the camera's linear and angular speed between frames.

    Parameters
    ----------
    max_speed : float
        Largest distance per second the camera may travel.
    max_turn : float
        Largest rotation per second, in degrees.

    Notes
    -----
    The app calls :meth:`reset` after the scene's ``build`` (where the scene
    places its camera freely) and then :meth:`limit` every frame after the
    scene's ``update``. A move beyond the allowance is cut to the allowance
    along the same path (straight line, shortest rotation), so a scene that
    animates its camera too fast is slowed down rather than frozen, and
    :attr:`clamped` counts the frames it happened.
    """

    def __init__(
        self, max_speed: float = MAX_CAMERA_SPEED, max_turn: float = MAX_CAMERA_TURN
    ) -> None:
        for name, value in (("max_speed", max_speed), ("max_turn", max_turn)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.max_speed = float(max_speed)
        self.max_turn = float(max_turn)
        self.clamped = 0
        """Frames in which the scene moved the camera too fast (and was slowed)."""
        self._pos: np.ndarray | None = None
        self._quat: np.ndarray | None = None

    def reset(self, pos, quat) -> None:
        """Accept this pose as it is (after ``build``)."""
        self._pos = np.asarray(pos, dtype=float).copy()
        self._quat = _unit(np.asarray(quat, dtype=float))

    def limit(self, pos, quat, dt: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """The pose to show after a frame of ``dt`` seconds, and whether it was clamped.

        Parameters
        ----------
        pos : array of shape (3,)
            Position the scene left the camera at.
        quat : array of shape (4,)
            Its orientation, ``(w, x, y, z)`` (Panda3D's order).
        dt : float
            Frame interval in seconds.

        Returns
        -------
        pos, quat : arrays of shape (3,) and (4,)
        clamped : bool
        """
        pos = np.asarray(pos, dtype=float)
        quat = _unit(np.asarray(quat, dtype=float))
        if self._pos is None:
            self.reset(pos, quat)
            return pos, quat, False
        dt = dt if math.isfinite(dt) and dt > 0 else 0.0
        step = pos - self._pos
        dist = float(np.linalg.norm(step))
        # Shortest rotation between the two orientations.
        dot = float(np.dot(self._quat, quat))
        if dot < 0:
            quat, dot = -quat, -dot
        angle = math.degrees(2 * math.acos(min(1.0, dot)))
        k_pos = 1.0 if dist <= self.max_speed * dt + 1e-12 else self.max_speed * dt / dist
        k_rot = 1.0 if angle <= self.max_turn * dt + 1e-9 else self.max_turn * dt / angle
        clamped = k_pos < 1.0 or k_rot < 1.0
        if clamped:
            self.clamped += 1
            pos = self._pos + step * k_pos
            quat = _slerp(self._quat, quat, k_rot)
        self._pos, self._quat = pos.copy(), quat.copy()
        return pos, quat, clamped


def _unit(q: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(q))
    return q / n if n > 0 else np.array([1.0, 0.0, 0.0, 0.0])


def _slerp(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Spherical interpolation from unit ``a`` to unit ``b`` (same hemisphere)."""
    dot = min(1.0, float(np.dot(a, b)))
    theta = math.acos(dot)
    if theta < 1e-9:
        return b.copy()
    s = math.sin(theta)
    return _unit((math.sin((1 - k) * theta) * a + math.sin(k * theta) * b) / s)

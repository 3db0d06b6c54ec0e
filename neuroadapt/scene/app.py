"""The running scene: a Panda3D window (or offscreen buffer) driven over the bus.

Every frame the app takes the newest wishes from the engine's ``control``
topic, lets the :class:`~neuroadapt.scene.controller.SceneController` smooth
and rate-limit them, shows the result, and publishes what it showed on the
``neuroadapt-scene`` LSL stream, so a recording proves what the patient saw
and when.

Control messages (topic ``control``, see :mod:`neuroadapt.bus`) may carry:

``params``    dict of parameter name to value (clipped; unknown names ignored)
``feedback``  bool; False glides the scene to its neutral values
``hold``      bool; True eases the scene to a stop and keeps it there
``gentle_exit`` ``{"duration": s}`` or true (the app's default, 60 s): every
              parameter eases to its neutral value, then the run ends with
              ``"gentle exit"``; later requests are ignored once it has begun
``end``       bool; True finishes the run (the engine fades to neutral first)

Other keys (``phase``, ``reward``...) are for other listeners and are ignored.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pylsl
import zmq

from neuroadapt.bus import DEFAULT_PUB, Subscriber
from neuroadapt.errors import ConfigError, NeuroadaptError
from neuroadapt.lsl import STREAM_SCENE, linger_for_consumers, make_stream_info
from neuroadapt.scene.base import Scene, load_scene_class
from neuroadapt.scene.controller import GENTLE_EXIT, SceneController
from neuroadapt.scene.manifest import SceneManifest, find_scene, load_manifest
from neuroadapt.scene.output import OutputRig, check_output, setup_output
from neuroadapt.scene.safety import CameraGuard

log = logging.getLogger(__name__)

STREAM_TYPE = "SceneState"
FRAME_TIME_CHANNEL = "frame_time_ms"
DROPPED_FRAMES_CHANNEL = "dropped_frames"
DISPLAY_ENV = "NEUROADAPT_DISPLAY"
HEADLESS_FRAME_RATE = 60  # an offscreen scene need not render faster than a headset
TARGET_FRAME_RATE = {"window": 60.0, "offscreen": 60.0, "stereo": 60.0, "vr": 90.0}
DROPPED_FACTOR = 1.5  # a frame longer than 1.5 target intervals counts as dropped

_created = False  # Panda3D's ShowBase can exist once per process


class SceneApp:
    """A scene in a window or offscreen buffer, fed by the control bus.

    Parameters
    ----------
    scene_name : str
        Scene name (see :func:`~neuroadapt.scene.manifest.find_scene`) or folder path.
    headless : bool
        Render offscreen (EGL, falling back to Panda3D's software renderer)
        instead of opening a window.
    control : str or None
        Address of the engine's PUB socket; None listens to nothing.
    source_id : str
        LSL ``source_id`` of the applied-state stream (carries the session id).
    set_values : dict of str to float, optional
        Start with these parameter values instead of the defaults (validated
        strictly: unknown names and out-of-range values raise ConfigError).
    size : tuple of int
        Window or buffer size in pixels.
    output : str, optional
        ``window``, ``offscreen``, ``stereo`` or ``vr`` (see
        :mod:`neuroadapt.scene.output`); default ``offscreen`` when ``headless``,
        else ``window``. Stereo renders offscreen when ``headless``.
    mirror : bool
        Also open a mirror window (a buffer when headless) showing what the
        patient sees.
    gentle_exit : float
        Default duration in seconds of a gentle exit asked for without one.
    frame_dt : float, optional
        Frame-stepped run: advance controller and scene by exactly this many
        seconds a frame, whatever the wall clock says, and do not limit the
        frame rate (tests and benchmarks). The stream's ``frame_time_ms``
        still reports the wall-clock interval.
    frame_rate : float, optional
        Target frame rate for ``dropped_frames`` (default: 60, 90 for VR).

    Raises
    ------
    ManifestError
        If the scene is unknown or its manifest is invalid.
    ConfigError
        If ``set_values`` or ``size`` are invalid.
    NeuroadaptError
        If no window or buffer could be opened.

    Notes
    -----
    The applied-state LSL stream (name ``neuroadapt-scene``, type
    ``SceneState``, irregular rate, float32) has one channel per manifest
    parameter, in manifest order, then ``frame_time_ms``: the interval since
    the previous sample, then ``dropped_frames``: how many frames since the
    start took longer than 1.5 target intervals. One sample per frame, stamped with
    ``pylsl.local_clock()``; the controller is stepped by the same clock, so
    between two samples no parameter moves more than ``max_rate`` times
    their time difference.

    One SceneApp per process: Panda3D's ShowBase cannot be created twice.
    The display module can be forced with ``$NEUROADAPT_DISPLAY`` (for
    example ``p3tinydisplay`` to check the software fallback).

    The app owns the camera's motion: after the scene's ``build`` it clamps
    every frame's camera move to :mod:`~neuroadapt.scene.safety` limits
    (no vection), warning once when a scene tries to go faster.
    """

    def __init__(
        self,
        scene_name: str,
        *,
        headless: bool,
        control: str | None = DEFAULT_PUB,
        source_id: str = "neuroadapt-scene",
        set_values: Mapping[str, float] | None = None,
        size: tuple[int, int] = (1280, 720),
        output: str | None = None,
        mirror: bool = False,
        gentle_exit: float = GENTLE_EXIT,
        frame_dt: float | None = None,
        frame_rate: float | None = None,
        join: bool = False,
    ) -> None:
        global _created
        width, height = (int(v) for v in size)
        if width < 16 or height < 16:
            raise ConfigError(f"size {width}x{height}: must be at least 16x16 pixels")
        output = check_output(output or ("offscreen" if headless else "window"))
        if output == "offscreen":
            headless = True
        elif output in ("window", "vr"):
            headless = False  # a headset needs a desktop window for its GL context
        for name, value in (
            ("gentle_exit", gentle_exit),
            ("frame_dt", frame_dt),
            ("frame_rate", frame_rate),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} {value!r}: must be a positive number")
        folder = find_scene(scene_name)
        self.manifest = load_manifest(folder)
        values = self.manifest.check_values(set_values or {})
        scene_class = load_scene_class(folder)
        if _created:
            raise RuntimeError(
                "one SceneApp per process: Panda3D's ShowBase cannot be created twice"
            )
        _created = True

        self.headless = headless
        self.output = output
        self.controller = SceneController(self.manifest)
        # A scene restarted mid-session takes up the engine's current state at
        # its first control message instead of gliding there from the defaults.
        self._join = join
        self.controller.reset(values)
        self.gentle_exit_default = float(gentle_exit)
        self.frame_dt = frame_dt
        self.target_interval = 1.0 / (frame_rate or TARGET_FRAME_RATE[output])
        self.dropped_frames = 0
        self.camera_guard = CameraGuard()
        self.control_time_s = 0.0
        """CPU time (this thread, s) of the app's own work in the last frame.

        Bus drain, control messages, controller step, camera guard, output rig
        and LSL push; not the scene's ``apply`` / ``update`` nor the render."""
        self.rig: OutputRig | None = None
        self.frames = 0
        self.stop_reason: str | None = None
        self._closed = False
        self._warned: set[str] = set()
        self._subscriber: Subscriber | None = None
        self._outlet = None
        self._base = None

        _configure_panda(headless, width, height, f"neuroadapt — {self.manifest.title}")
        from direct.showbase.ShowBase import ShowBase
        from panda3d.core import ClockObject

        class _Base(ShowBase):
            # ShowBase calls sys.exit() when the user closes the window; a
            # therapy session must instead stop like any other end of run.
            def finalizeExit(base_self) -> None:
                self._request_stop("window closed")

        try:
            self._base = _Base()
        except Exception as exc:  # Panda3D raises bare Exceptions for pipe failures
            hint = "" if headless else " (no display? try --headless)"
            raise NeuroadaptError(
                f"cannot open a {'buffer' if headless else 'window'} for the scene: {exc}{hint}"
            ) from None
        try:
            if self._base.win is None:
                raise NeuroadaptError("Panda3D opened no window or buffer (see its log above)")
            self._base.disableMouse()  # the default trackball would move the camera
            if headless and frame_dt is None:
                clock = ClockObject.getGlobalClock()
                clock.setMode(ClockObject.MLimited)
                clock.setFrameRate(HEADLESS_FRAME_RATE)
            self.scene: Scene = scene_class(
                render=self._base.render,
                camera=self._base.cam,
                taskmgr=self._base.taskMgr,
                loader=self._base.loader,
                manifest=self.manifest,
                win=self._base.win,
            )
            self.scene.build()
            self.scene.apply(self.controller.applied)
            self.camera_guard.reset(*_pose(self._base.cam, self._base.render))
            self.rig = setup_output(self._base, output, mirror=mirror)
            if control is not None:
                try:
                    self._subscriber = Subscriber(control, topics=("control",))
                except zmq.ZMQError as exc:
                    raise ConfigError(
                        f"control address {control!r}: {exc} (expected e.g. tcp://127.0.0.1:5710)"
                    ) from None
            self._outlet = _make_outlet(self.manifest, source_id)
        except BaseException:
            self.close()
            raise
        log.info(
            "scene %s on %s (%s), output %s%s, shaders %s",
            self.manifest.name,
            self._base.pipe.getInterfaceName(),
            self._base.win.getGsg().getDriverRenderer(),
            output,
            " with mirror" if mirror else "",
            "on" if self.scene.shaders_available else "off (software fallback)",
        )
        self._t0 = self._last_time = pylsl.local_clock()
        self._base.taskMgr.add(self._frame, "neuroadapt-scene-frame", sort=-40)

    # -- public ---------------------------------------------------------------------------

    @property
    def shaders(self) -> bool:
        """Whether the scene renders with shaders (False on the software fallback)."""
        return self.scene.shaders_available

    def run(
        self, duration: float | None = None, frames: int | None = None, *, close: bool = True
    ) -> str:
        """Render until an end message, a signal, ``duration`` seconds or ``frames`` frames.

        Parameters
        ----------
        duration : float, optional
            Wall-clock seconds to run.
        frames : int, optional
            Number of frames to render.
        close : bool
            Release everything (outlet, socket, window) when the run ends.

        Returns
        -------
        reason : str
            Why the run ended: ``"end message"``, ``"gentle exit"``,
            ``"signal SIGTERM"`` (or SIGINT), ``"duration"``, ``"frames"`` or
            ``"window closed"``.
        """
        if self._closed:
            raise RuntimeError("this SceneApp is closed")
        if duration is not None and not (math.isfinite(duration) and duration > 0):
            raise ConfigError(f"duration {duration!r}: must be a positive number of seconds")
        if frames is not None and frames < 1:
            raise ConfigError(f"frames {frames!r}: must be at least 1")
        self.stop_reason = None
        deadline = None if duration is None else time.monotonic() + duration
        stop_frame = None if frames is None else self.frames + frames
        restore = self._install_signal_handlers()
        try:
            while self.stop_reason is None:
                try:
                    self._base.taskMgr.step()
                except KeyboardInterrupt:
                    # TaskManager.step() turns SIGINT into KeyboardInterrupt
                    # after finishing the frame: a clean point to stop.
                    self._request_stop("signal SIGINT")
                if (
                    self.stop_reason is None
                    and stop_frame is not None
                    and self.frames >= stop_frame
                ):
                    self.stop_reason = "frames"
                if (
                    self.stop_reason is None
                    and deadline is not None
                    and time.monotonic() >= deadline
                ):
                    self.stop_reason = "duration"
        finally:
            restore()
            if close:
                self.close()
        log.info("scene stopped after %d frames: %s", self.frames, self.stop_reason)
        return self.stop_reason

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Render two frames and save the second as an image (PNG by extension).

        Two frames, because render-to-texture passes (the water's reflection)
        are drawn before the window and show up one frame later.

        Returns
        -------
        path : Path
        """
        from panda3d.core import Filename

        if self._closed:
            raise RuntimeError("this SceneApp is closed")
        path = Path(path)
        for _ in range(2):
            self._base.taskMgr.step()
        if not self._base.win.saveScreenshot(Filename.fromOsSpecific(str(path.resolve()))):
            raise NeuroadaptError(f"cannot write screenshot {path}")
        return path

    def capture(self, which: str = "main"):
        """The last rendered frame as an array of floats in [0, 1], top row first.

        Parameters
        ----------
        which : {"main", "mirror"}
            The patient's window or buffer (both eyes in stereo), or the mirror.

        Returns
        -------
        rgb : array of shape (height, width, 3)
        """
        import numpy as np

        if self._closed:
            raise RuntimeError("this SceneApp is closed")
        win = self._base.win if which == "main" else (self.rig.mirror if self.rig else None)
        if win is None:
            raise ValueError(f"no {which!r} output to capture")
        tex = win.getScreenshot()
        if tex is None:
            raise NeuroadaptError(f"cannot read back the {which} frame")
        data = np.frombuffer(tex.getRamImageAs("RGB"), np.uint8)
        # Panda3D images store the bottom row first.
        return data.reshape(tex.getYSize(), tex.getXSize(), 3)[::-1] / 255.0

    def start_gentle_exit(self, duration: float | None = None) -> float:
        """Ease to neutral over ``duration`` s (default: the app's), then end the run."""
        planned = self.controller.start_gentle_exit(
            self.gentle_exit_default if duration is None else duration
        )
        log.info("gentle exit over %.1f s", planned)
        return planned

    def close(self) -> None:
        """Close the outlet and socket, remove the scene and destroy the window (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._subscriber is not None:
            self._subscriber.close()
            self._subscriber = None
        # A listening recorder gets the last frames (those that prove where the
        # scene ended) before the outlet goes.
        linger_for_consumers(self._outlet)
        self._outlet = None
        if self._base is not None:
            self._base.taskMgr.remove("neuroadapt-scene-frame")
            if self.rig is not None:
                self.rig.close()
            scene = getattr(self, "scene", None)
            if scene is not None:
                scene.destroy()
            self._base.destroy()

    def __enter__(self) -> SceneApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- per frame ------------------------------------------------------------------------

    def _frame(self, task: Any) -> int:
        # The LSL clock times the step: the interval between two published
        # samples is then exactly the interval the controller was allowed to
        # move in, so a recording proves the rate limit held.
        now = pylsl.local_clock()
        work = time.thread_time()
        wall_dt = now - self._last_time
        self._last_time = now
        dt = wall_dt if self.frame_dt is None else self.frame_dt
        if wall_dt > DROPPED_FACTOR * self.target_interval:
            self.dropped_frames += 1
        if self._subscriber is not None:
            self._poll_control()
        values = self.controller.step(dt)
        if self.controller.exit_done:
            self._request_stop("gentle exit")
        work = time.thread_time() - work
        self.scene.apply(values)
        scene_t = (self.frames + 1) * dt if self.frame_dt is not None else now - self._t0
        self.scene.update(min(dt, self.controller.max_dt), scene_t)
        work2 = time.thread_time()
        self._guard_camera(dt)
        if self.rig is not None:
            self.rig.update()
        if self._outlet is not None:
            self._outlet.push_sample(
                [*values.values(), wall_dt * 1000.0, float(self.dropped_frames)], now
            )
        self.frames += 1
        self.control_time_s = work + time.thread_time() - work2
        return task.cont

    def _guard_camera(self, dt: float) -> None:
        cam, render = self._base.cam, self._base.render
        pos, quat, clamped = self.camera_guard.limit(*_pose(cam, render), dt)
        if clamped:
            from panda3d.core import LQuaternion, Point3

            cam.setPosQuat(render, Point3(*pos), LQuaternion(*quat))
            self._warn_once(
                "camera",
                f"scene {self.manifest.name} moves the camera faster than "
                f"{self.camera_guard.max_speed:g} m/s or "
                f"{self.camera_guard.max_turn:g} deg/s; slowed down "
                "(fast camera motion causes VR sickness)",
            )

    def _poll_control(self) -> None:
        # Messages are applied oldest first, so the newest wins for each field
        # while a message that only says "hold" still counts.
        for topic, body in self._subscriber.drain():
            if topic != "control":
                continue
            params = body.get("params")
            if isinstance(params, dict) and self._join:
                self.controller.reset({k: v for k, v in params.items() if k in self.manifest.names})
                self._join = False
            elif isinstance(params, dict):
                self.controller.set_targets(params)
            elif params is not None:
                self._warn_once("params", "control message 'params' is not an object; ignored")
            for key, setter in (
                ("feedback", self.controller.set_feedback),
                ("hold", self.controller.set_hold),
            ):
                value = body.get(key)
                if isinstance(value, bool):
                    setter(value)
                elif value is not None:
                    self._warn_once(key, f"control message {key!r} is not true/false; ignored")
            self._gentle_exit_request(body.get("gentle_exit"))
            if body.get("end") is True:
                self._request_stop("end message")
        for name in self.controller.unknown_names:
            self._warn_once(
                f"param:{name}",
                f"control message names unknown parameter {name!r} "
                f"(scene {self.manifest.name} has "
                f"{', '.join(self.manifest.names)}); ignored",
            )

    def _gentle_exit_request(self, value: object) -> None:
        if value is None or value is False or self.controller.exiting:
            return
        duration = None
        if isinstance(value, dict):
            duration = value.get("duration")
        elif value is not True:
            duration = "invalid"
        try:
            self.start_gentle_exit(duration)
        except ValueError:
            self._warn_once(
                "gentle_exit",
                f"control message 'gentle_exit' {value!r}: expected "
                'true or {"duration": seconds > 0}; ignored',
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def _install_signal_handlers(self) -> Callable[[], None]:
        """Turn SIGTERM/SIGINT into a clean stop; returns a function restoring the old ones."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}

        def handler(signum: int, frame: object) -> None:
            self._request_stop(f"signal {signal.Signals(signum).name}")

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore


def _configure_panda(headless: bool, width: int, height: int, title: str) -> None:
    """Panda3D settings; must run before ShowBase opens its window."""
    from panda3d.core import loadPrcFileData

    lines = [
        f"win-size {width} {height}",
        "audio-library-name null",
        "print-pipe-types false",
        "show-frame-rate-meter false",
        # No input devices on a scene machine's render process; the evdev
        # scan only logs errors when /dev/input is absent (containers).
        "notify-level-device fatal",
    ]
    forced = os.environ.get(DISPLAY_ENV, "").strip()
    if headless:
        lines += [
            "window-type offscreen",
            f"load-display {forced or 'p3headlessgl'}",
            "aux-display p3tinydisplay",
            "sync-video false",
            # EGL first tries the default display, which a server lacks, and
            # warns before it finds the GPU (or llvmpipe) device it then uses;
            # the software pipe probes X11 the same way before going offscreen.
            "notify-level-egldisplay error",
            "notify-level-x11display fatal",
        ]
    else:
        lines += [
            "window-type onscreen",
            f"window-title {title}",
            "sync-video true",
        ]
        if forced:
            lines.append(f"load-display {forced}")
    loadPrcFileData("neuroadapt-scene", "\n".join(lines))


def _pose(node: Any, render: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    pos, quat = node.getPos(render), node.getQuat(render)
    return (pos.x, pos.y, pos.z), (quat.getR(), quat.getI(), quat.getJ(), quat.getK())


def _make_outlet(manifest: SceneManifest, source_id: str) -> pylsl.StreamOutlet:
    names = [*manifest.names, FRAME_TIME_CHANNEL, DROPPED_FRAMES_CHANNEL]
    units = [p.unit or None for p in manifest.parameters] + ["ms", "count"]
    info = make_stream_info(
        STREAM_SCENE, STREAM_TYPE, names, 0.0, "float32", source_id, units=units
    )
    return pylsl.StreamOutlet(info)

"""Where the scene is shown: window, offscreen buffer, side-by-side stereo, OpenXR headset.

The scene always places one camera (``ShowBase.cam``); the output decides
which cameras actually draw:

``window``     that camera in a desktop window
``offscreen``  that camera in an offscreen buffer (tests, screenshots)
``stereo``     two eye cameras, children of it, half the interocular distance
               either side, drawn side by side in one window or buffer
``vr``         an OpenXR headset through ``panda3d-openxr`` (``pip install
               neuroadapt[vr]``); the head is tracked around the scene camera

A mirror (``--mirror``) is a second window or buffer for the therapist showing
what the patient sees: the left eye in stereo and VR, the picture itself
otherwise. Panda3D is imported by the functions only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from neuroadapt.errors import ConfigError

log = logging.getLogger(__name__)

OUTPUTS = ("window", "offscreen", "stereo", "vr")
EYE_SEPARATION = 0.064  # metres: a typical adult interpupillary distance
SEATED_EYE_HEIGHT = 1.2  # metres above the floor of the OpenXR stage
VR_INSTALL_HINT = "install neuroadapt[vr]"


def check_output(output: str) -> str:
    """``output`` if it is one of :data:`OUTPUTS` (and installed), else a one-line ConfigError."""
    if output not in OUTPUTS:
        raise ConfigError(f"--output {output!r}: expected one of {', '.join(OUTPUTS)}")
    if output == "vr":
        check_vr_installed()
    return output


def check_vr_installed() -> None:
    """Raise a one-line ConfigError unless panda3d-openxr and pyopenxr can be imported."""
    import importlib.util

    for module, package in (("p3dopenxr", "panda3d-openxr"), ("xr", "pyopenxr")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ConfigError(f"--output vr: {package} is not installed; {VR_INSTALL_HINT}")


@dataclass
class OutputRig:
    """The cameras and windows an output added; updated once a frame by the app.

    Attributes
    ----------
    mode : str
        One of :data:`OUTPUTS`.
    eyes : list of NodePath
        The eye cameras (stereo and VR), left first; empty for a single view.
    mirror : GraphicsOutput or None
        The mirror window or buffer.
    """

    mode: str
    base: Any
    eyes: list = field(default_factory=list)
    mirror: Any = None
    _eye_aspect: float = 1.0
    _vr: Any = None
    _vr_origin: Any = None

    def update(self) -> None:
        """Follow the scene camera's lens and pose and the main window's clear colour."""
        base = self.base
        if self.mode == "stereo":
            lens = base.camNode.getLens()
            for eye in self.eyes:
                copy = lens.makeCopy()
                copy.setAspectRatio(self._eye_aspect)
                eye.node().setLens(copy)
        elif self.mode == "vr" and self._vr_origin is not None:
            # The tracked stage follows the scene camera: its floor lies a seated
            # eye height below it, facing the same way (heading only: the
            # headset supplies pitch and roll).
            cam = base.cam
            pos = cam.getPos(base.render)
            self._vr_origin.setPos(pos.x, pos.y, pos.z - SEATED_EYE_HEIGHT)
            self._vr_origin.setH(cam.getH(base.render))
        if self.mirror is not None:
            self.mirror.setClearColor(base.win.getClearColor())

    def close(self) -> None:
        if self._vr is not None:
            try:
                self._vr.destroy()
            except Exception:  # best effort at shutdown
                log.debug("OpenXR teardown failed", exc_info=True)
            self._vr = None
        if self.mirror is not None:
            self.base.closeWindow(self.mirror)
            self.mirror = None


def setup_output(
    base: Any, mode: str, *, mirror: bool = False, eye_separation: float = EYE_SEPARATION
) -> OutputRig:
    """Arrange cameras and windows for ``mode`` after ShowBase opened its window.

    Raises
    ------
    ConfigError
        For ``vr`` when ``panda3d-openxr`` is missing or no OpenXR runtime answers.
    """
    check_output(mode)
    rig = OutputRig(mode=mode, base=base)
    view = base.cam
    if mode == "stereo":
        _main_region(base).setActive(False)
        width, height = base.win.getXSize(), base.win.getYSize()
        rig._eye_aspect = (width / 2) / height
        for i, (name, side) in enumerate((("left", -1), ("right", 1))):
            from panda3d.core import Camera

            node = Camera(f"eye-{name}", base.camNode.getLens().makeCopy())
            node.setCameraMask(base.camNode.getCameraMask())
            eye = base.cam.attachNewNode(node)
            eye.setX(side * eye_separation / 2)
            region = base.win.makeDisplayRegion(0.5 * i, 0.5 * (i + 1), 0, 1)
            region.setCamera(eye)
            rig.eyes.append(eye)
        view = rig.eyes[0]
        rig.update()
    elif mode == "vr":
        view = _setup_vr(base, rig)
    if mirror:
        rig.mirror = _open_mirror(base, view, half=(mode == "stereo"))
    return rig


def _main_region(base: Any):
    for region in base.win.getDisplayRegions():
        if region.getCamera() == base.cam:
            return region
    raise RuntimeError("the main camera has no display region")


def _open_mirror(base: Any, camera: Any, *, half: bool):
    from panda3d.core import WindowProperties

    width, height = base.win.getXSize(), base.win.getYSize()
    props = WindowProperties()
    props.setSize(width // 2 if half else width, height)
    props.setTitle("neuroadapt — mirror (what the patient sees)")
    offscreen = not base.win.isOfType(_graphics_window_type())
    win = base.openWindow(
        props=props,
        type="offscreen" if offscreen else "onscreen",
        makeCamera=False,
        gsg=base.win.getGsg(),
        requireWindow=True,
    )
    if win is None:
        raise ConfigError("--mirror: cannot open a mirror window")
    region = win.makeDisplayRegion()
    region.setCamera(camera)
    win.setClearColor(base.win.getClearColor())
    return win


def _graphics_window_type():
    from panda3d.core import GraphicsWindow

    return GraphicsWindow.getClassType()


def _setup_vr(base: Any, rig: OutputRig):
    try:
        from p3dopenxr.p3dopenxr import P3DOpenXR
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "p3dopenxr"
        raise ConfigError(
            f"--output vr: panda3d-openxr is not available ({missing} missing); {VR_INSTALL_HINT}"
        ) from None
    origin = base.render.attachNewNode("vr-stage")
    xr = None
    try:
        xr = P3DOpenXR(base)
        xr.init(root=origin)
    except Exception as exc:  # pyopenxr raises many kinds; all mean "no headset"
        if xr is not None:
            try:
                xr.destroy()
            except Exception:  # the runtime error below is what matters
                pass
        origin.removeNode()
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"--output vr: no OpenXR runtime found ({reason}); start the "
            "headset's runtime (SteamVR, Monado, Meta) or use --output stereo"
        ) from None
    # panda3d-openxr parks the main camera outside the scene graph; the scene
    # still places it, so bring it back and only switch off its drawing.
    base.camera.reparentTo(base.render)
    _main_region(base).setActive(False)
    rig._vr, rig._vr_origin = xr, origin
    rig.eyes = list(xr.cams)
    rig.update()
    return rig.eyes[0]


def eye_separation_ok(value: float) -> float:
    """Check an interocular distance in metres (0 to 0.1)."""
    if not (math.isfinite(value) and 0 <= value <= 0.1):
        raise ConfigError(f"eye separation {value!r}: expected 0 to 0.1 m")
    return float(value)

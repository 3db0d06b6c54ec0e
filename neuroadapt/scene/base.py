"""The interface every scene implements, and how a scene folder is loaded.

A scene receives the nodes and services it drives (scene graph root, camera,
task manager, loader, window) instead of reaching for Panda3D's ``builtins``
globals, so it can be built in any ShowBase, in a test, or in a VR pipeline
that owns the window.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroadapt.errors import ManifestError
from neuroadapt.scene.manifest import SCENE_FILE, SceneManifest

if TYPE_CHECKING:  # Panda3D is only needed where a scene is actually built
    from panda3d.core import GraphicsOutput, NodePath


class Scene(ABC):
    """A Panda3D environment whose look is driven by manifest parameters.

    Parameters
    ----------
    render : NodePath
        Scene graph root to attach to; a scene keeps everything under
        :attr:`root` so :meth:`destroy` can remove it.
    camera : NodePath
        The node holding the ``Camera`` (its lens is ``camera.node().getLens()``).
        The scene places it: the camera of a therapy scene must stay calm.
    taskmgr : direct.task.Task.TaskManager
        For scenes that want their own tasks (most only need :meth:`update`).
    loader : direct.showbase.Loader.Loader
        For scenes that load models or textures from their folder.
    manifest : SceneManifest
        The scene's validated manifest.
    win : GraphicsOutput, optional
        The window or offscreen buffer, for render-to-texture passes and to
        learn what the graphics back end supports; None when there is none.

    Notes
    -----
    The app calls :meth:`build` once, then every frame :meth:`apply` with the
    controller's smoothed values and :meth:`update` with the frame interval.
    ``apply`` receives every manifest parameter, already clipped and rate
    limited: a scene maps them to visuals and never needs to smooth again.
    """

    def __init__(
        self,
        render: NodePath,
        camera: NodePath,
        taskmgr: Any,
        loader: Any,
        manifest: SceneManifest,
        win: GraphicsOutput | None = None,
    ) -> None:
        self.render = render
        self.camera = camera
        self.taskmgr = taskmgr
        self.loader = loader
        self.manifest = manifest
        self.win = win
        self.folder: Path = manifest.folder
        self.root = render.attachNewNode(f"scene-{manifest.name}")

    @property
    def shaders_available(self) -> bool:
        """Whether the graphics back end runs GLSL (False on the software renderer)."""
        gsg = self.win.getGsg() if self.win is not None else None
        return bool(gsg is not None and gsg.getSupportsBasicShaders() and gsg.getSupportsGlsl())

    @abstractmethod
    def build(self) -> None:
        """Create the scene graph under :attr:`root` and place the camera."""

    @abstractmethod
    def apply(self, values: dict[str, float]) -> None:
        """Show ``values`` (every parameter, name to value); called every frame."""

    def update(self, dt: float, t: float) -> None:  # noqa: B027 (optional hook)
        """Advance animations; ``dt`` is the frame interval and ``t`` the scene time (s)."""

    def destroy(self) -> None:
        """Remove what :meth:`build` created; subclasses with buffers extend this."""
        self.root.removeNode()


def load_scene_class(folder: str | Path) -> type[Scene]:
    """Import ``scene.py`` from a scene folder and return its one Scene subclass.

    Parameters
    ----------
    folder : path-like
        A scene folder (as returned by :func:`~neuroadapt.scene.manifest.find_scene`).

    Raises
    ------
    ManifestError
        If there is no ``scene.py``, or it defines no concrete Scene subclass,
        or more than one. Errors raised while importing the file propagate
        unchanged: their traceback is what the scene's author needs.
    """
    folder = Path(folder)
    path = folder / SCENE_FILE
    if not path.is_file():
        raise ManifestError(f"{path}: no such file (a scene folder needs {SCENE_FILE})")
    # A private, unique module name: two scene folders may both be called
    # "lagoon", and neither must shadow a real package.
    tag = zlib.crc32(str(path.resolve()).encode())
    module_name = f"neuroadapt_scene_{tag:08x}_{folder.name.replace('-', '_').replace('.', '_')}"
    if module_name in sys.modules:
        module = sys.modules[module_name]
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ManifestError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Scene)
        and obj is not Scene
        and obj.__module__ == module_name
        and not inspect.isabstract(obj)
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise ManifestError(f"{path}: expected exactly one Scene subclass, found {names}")
    return found[0]

"""The scene side: manifests, the comfort controller, the Scene base class.

Importing this package does not import Panda3D; only
:mod:`neuroadapt.scene.app` (the running scene) and the scenes themselves do.
"""

from neuroadapt.scene.base import Scene, load_scene_class
from neuroadapt.scene.controller import SceneController
from neuroadapt.scene.manifest import (
    SceneManifest,
    SceneParameter,
    find_scene,
    list_scenes,
    load_manifest,
    scene_search_path,
)

__all__ = [
    "Scene",
    "SceneController",
    "SceneManifest",
    "SceneParameter",
    "find_scene",
    "list_scenes",
    "load_manifest",
    "load_scene_class",
    "scene_search_path",
]

"""Screenshots for docs/scenes.md: each scene at its defaults and at the ends of each parameter.

Run from the repository root: python tools/scene_screenshots.py SCENE (one scene per
process: Panda3D has one ShowBase per process). Needs Pillow (a matplotlib dependency).
"""

import sys
from pathlib import Path

from PIL import Image

from neuroadapt.scene.app import SceneApp

OUT = Path("docs/scenes")
name = sys.argv[1]
app = SceneApp(name, headless=True, control=None, size=(480, 270))
shots = {"default": {}}
for p in app.manifest:
    if p.name == "breathing_rate":
        continue  # a pace: no still picture shows it
    shots[f"{p.name}-min"] = {p.name: p.low}
    shots[f"{p.name}-max"] = {p.name: p.high}
for shot, values in shots.items():
    app.controller.reset(values)
    if shot == "breathing_guide-max":
        app.scene._breath_phase = 0.5  # show the guide at the top of an in-breath
    path = OUT / f"{name}-{shot}.png"
    app.screenshot(path)
    # An adaptive palette keeps each picture small enough for the repository.
    picture = (
        Image.open(path)
        .convert("RGB")
        .quantize(colors=96, dither=Image.Dither.FLOYDSTEINBERG, method=Image.Quantize.MEDIANCUT)
    )
    picture.save(path, optimize=True)
app.close()

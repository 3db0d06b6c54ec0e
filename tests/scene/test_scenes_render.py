"""Every scene renders offscreen, and each parameter moves the picture the right way.

One subprocess per scene and display back end (Panda3D's ShowBase exists once
per process) renders a batch of small screenshots, resetting the controller
between them; all are started by one module fixture, two at a time. The
margins below were measured first (320x180, Mesa llvmpipe through EGL, and
Panda3D's software p3tinydisplay) and each assertion keeps well inside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from neuroadapt.scene.manifest import find_scene, list_scenes, load_manifest

pytestmark = [pytest.mark.render, pytest.mark.timeout(240)]

SIZE = (320, 180)
LUMA = np.array([0.2126, 0.7152, 0.0722])
SOFTWARE = {"NEUROADAPT_DISPLAY": "p3tinydisplay"}
BREATHING = ("breathing_guide", "breathing_rate")

# Shots per scene: name -> --set values (every other parameter at its default).
SHOTS = {
    "forest": {
        "default": {},
        "guide": {"breathing_guide": 1.0},
        "mist0": {"mist": 0.0},
        "mist1": {"mist": 1.0},
        "cool": {"light_warmth": 0.0},
        "warm": {"light_warmth": 1.0},
        "dim": {"brightness": 0.0},
        "bright": {"brightness": 1.0},
        "few": {"fireflies": 0.0},
        "many": {"fireflies": 1.0},
        "grey": {"saturation": 0.0},
        "vivid": {"saturation": 1.0},
    },
    "aurora": {
        "default": {},
        "guide": {"breathing_guide": 1.0},
        "mist0": {"mist": 0.0},
        "mist1": {"mist": 1.0},
        "cool": {"light_warmth": 0.0},
        "warm": {"light_warmth": 1.0},
        "dim": {"aurora_intensity": 0.0},
        "bright": {"aurora_intensity": 1.0},
        "few": {"star_density": 0.0},
        "many": {"star_density": 1.0},
        "grey": {"saturation": 0.0},
        "vivid": {"saturation": 1.0},
    },
    "lagoon": {
        "default": {},
        "guide": {"breathing_guide": 1.0},
        "grey": {"saturation": 0.0},
        "vivid": {"saturation": 1.0},
    },
}
# The software renderer: each scene at its default and with the guide on.
SOFTWARE_SHOTS = {"default": {}, "guide": {"breathing_guide": 1.0}}

# Renders a batch of shots in one process: argv = scene, out dir, JSON {name: values}.
BATCH = textwrap.dedent("""
    import json, sys
    from neuroadapt.scene.app import SceneApp

    scene, out, shots = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    app = SceneApp(scene, headless=True, control=None, size=({w}, {h}))
    for name, values in shots.items():
        app.controller.reset(values)
        app.screenshot(f"{{out}}/{{name}}.png")
    print(json.dumps({{"shaders": app.shaders}}))
    app.close()
""").format(w=SIZE[0], h=SIZE[1])


def load_png(path: Path) -> np.ndarray:
    """An image as floats in [0, 1], shape (height, width, 3), top row first."""
    from panda3d.core import Filename, PNMImage, Texture

    image = PNMImage()
    assert image.read(Filename.fromOsSpecific(str(path))), path
    texture = Texture()
    texture.load(image)
    rgb = np.frombuffer(texture.getRamImageAs("RGB"), np.uint8)
    return rgb.reshape(image.getYSize(), image.getXSize(), 3)[::-1] / 255.0


def luminance(img: np.ndarray) -> np.ndarray:
    return img @ LUMA


def contrast(img: np.ndarray) -> float:
    """Spread of luminance: fog and mist pull every pixel toward one value."""
    return float(luminance(img).std())


def red_blue(img: np.ndarray) -> float:
    return float(img[..., 0].mean() / max(img[..., 2].mean(), 1e-6))


def chroma(img: np.ndarray) -> float:
    """Mean distance of each pixel's colour from its own grey: colour saturation."""
    return float(np.abs(img - luminance(img)[..., None]).mean())


def bright_points(img: np.ndarray, above: float) -> int:
    """Pixels of small isolated lights (stars, fireflies).

    A pixel counts when it outshines every pixel on the square ring 3 pixels
    around it by ``above``: blades of grass, tree edges and the rays of the
    aurora continue through that ring and do not count.
    """
    lum = luminance(img)
    h, w = lum.shape
    pad = np.pad(lum, 3, mode="edge")
    ring = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) == 3]
    around = np.max([pad[3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w] for dy, dx in ring], axis=0)
    return int(((lum - around) > above).sum())


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BATCH, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """``{"forest": {"mist0": image, ...}, "forest/soft": {...}, ...}`` for every listed scene."""
    root = tmp_path_factory.mktemp("scenes")
    jobs = {}
    for name in list_scenes():
        plan = SHOTS.get(name, {"default": {}, "guide": {"breathing_guide": 1.0}})
        for key, batch, env in ((name, plan, {}), (f"{name}/soft", SOFTWARE_SHOTS, SOFTWARE)):
            out = root / key.replace("/", "-")
            out.mkdir()
            jobs[key] = ([name, str(out), json.dumps(batch)], env, out, batch)
    # Two at a time: each render keeps a core busy.
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(
            zip(jobs, pool.map(lambda j: _run(j[0], j[1], j[2]), jobs.values()), strict=True)
        )
    images = {}
    for key, proc in procs.items():
        assert proc.returncode == 0, f"{key} failed:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr
        shaders = json.loads(proc.stdout.strip().splitlines()[-1])["shaders"]
        assert shaders is not key.endswith("/soft"), (key, shaders)
        out, batch = jobs[key][2], jobs[key][3]
        images[key] = {shot: load_png(out / f"{shot}.png") for shot in batch}
    return images


def test_every_manifest_loads_with_five_parameters_and_a_breathing_guide():
    names = list_scenes()
    assert {"lagoon", "forest", "aurora"} <= set(names)
    for name in names:
        manifest = load_manifest(find_scene(name))
        assert len(manifest.parameters) >= 5, name
        visual = [p for p in manifest if p.name not in BREATHING]
        assert len(visual) >= 5, (name, [p.name for p in visual])
        guide, rate = manifest["breathing_guide"], manifest["breathing_rate"]
        assert guide.range == (0.0, 1.0) and guide.default == 0.0 and guide.neutral == 0.0
        assert guide.max_rate <= 0.2  # fades in over 5 s or more
        assert rate.low >= 3.0 and rate.high <= 10.0 and rate.unit == "breaths/min"
        for p in manifest:
            assert p.description, (name, p.name)
            # Calm: no parameter crosses more than a fifth of its range per second.
            assert p.max_rate <= 0.2 * (p.high - p.low) + 1e-12, (name, p.name)


def test_every_scene_renders_a_real_picture(shots):
    for key, batch in shots.items():
        for shot, img in batch.items():
            assert img.shape == (SIZE[1], SIZE[0], 3), (key, shot)
            lum = luminance(img)
            assert 0.04 < lum.mean() < 0.95, (key, shot, lum.mean())  # not black, not blown
            assert lum.std() > 0.02, (key, shot, lum.std())  # not uniform


def test_breathing_guide_shows_in_every_scene_and_back_end(shots):
    for key, batch in shots.items():
        diff = np.abs(luminance(batch["guide"]) - luminance(batch["default"]))
        # A soft glow: a visible patch, brighter than before, not the whole picture.
        assert diff.max() > 0.15, (key, diff.max())
        assert 0.001 < (diff > 0.03).mean() < 0.2, (key, (diff > 0.03).mean())
        patch = diff > 0.03
        gain = luminance(batch["guide"])[patch] - luminance(batch["default"])[patch]
        assert gain.mean() > 0.05, (key, gain.mean())  # a light: it adds, never darkens


@pytest.mark.parametrize("scene", ["forest", "aurora"])
def test_mist_lowers_contrast(shots, scene):
    s = shots[scene]
    assert contrast(s["mist1"]) < MEASURED[scene]["mist"] * contrast(s["mist0"])


@pytest.mark.parametrize("scene", ["forest", "aurora"])
def test_warmer_light_is_redder(shots, scene):
    s = shots[scene]
    assert red_blue(s["warm"]) > MEASURED[scene]["warm"] * red_blue(s["cool"])


@pytest.mark.parametrize("scene", ["forest", "aurora"])
def test_brighter_light_raises_mean_luminance(shots, scene):
    s = shots[scene]
    gain = luminance(s["bright"]).mean() - luminance(s["dim"]).mean()
    assert gain > MEASURED[scene]["bright"]


@pytest.mark.parametrize("scene", ["forest", "aurora"])
def test_more_stars_or_fireflies_make_more_bright_points(shots, scene):
    s = shots[scene]
    few, many = (bright_points(s[k], MEASURED[scene]["point"]) for k in ("few", "many"))
    assert many > MEASURED[scene]["points"] * max(few, 1), (few, many)


@pytest.mark.parametrize("scene", ["forest", "aurora", "lagoon"])
def test_saturation_spreads_colour(shots, scene):
    s = shots[scene]
    assert chroma(s["grey"]) < 0.5 * chroma(s["default"]) < 0.5 * chroma(s["vivid"])


def test_software_fallback_looks_like_the_shaded_scene(shots):
    for name in ("forest", "aurora", "lagoon"):
        soft, shaded = shots[f"{name}/soft"]["default"], shots[name]["default"]
        assert abs(luminance(soft).mean() - luminance(shaded).mean()) < 0.12, name


# Thresholds, each well inside what was measured (see the module docstring):
# forest: contrast 0.210 -> 0.065 with mist; red/blue 0.83 -> 1.83 cool to warm;
# luminance 0.34 -> 0.60 dim to bright; points 21 -> 199 without and with fireflies.
# aurora: contrast 0.156 -> 0.113; red/blue 0.44 -> 1.16; luminance 0.20 -> 0.38;
# points 87 -> 280 from the brightest stars only to all of them.
MEASURED = {
    "forest": {"mist": 0.6, "warm": 1.5, "bright": 0.15, "point": 0.06, "points": 4.0},
    "aurora": {"mist": 0.82, "warm": 1.8, "bright": 0.1, "point": 0.06, "points": 2.0},
}

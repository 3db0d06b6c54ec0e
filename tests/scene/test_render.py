"""The lagoon rendered offscreen: every parameter visibly changes the picture.

Each render runs in its own process (Panda3D's ShowBase exists once per
process), all started together by one module fixture. Images are read back
with Panda3D's own PNG reader; the margins below were measured first
(480x270, Mesa llvmpipe) and each assertion keeps well inside them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.render, pytest.mark.timeout(180)]

SIZE = (480, 270)
LUMA = np.array([0.2126, 0.7152, 0.0722])

# name -> (--set values, extra environment)
SHOTS = {
    "fog0": ({"fog_density": 0.0}, {}),
    "fog1": ({"fog_density": 1.0}, {}),
    "cool": ({"fog_density": 0.3, "light_warmth": 0.0}, {}),
    "warm": ({"fog_density": 0.3, "light_warmth": 1.0}, {}),
    "sun_low": ({"fog_density": 0.3, "sun_height": 0.0}, {}),
    "sun_high": ({"fog_density": 0.3, "sun_height": 1.0}, {}),
    "soft_fog0": ({"fog_density": 0.0}, {"NEUROADAPT_DISPLAY": "p3tinydisplay"}),
    "soft_fog1": ({"fog_density": 1.0}, {"NEUROADAPT_DISPLAY": "p3tinydisplay"}),
}

# Two frames half a second apart from one process, for the water's motion.
ANIMATION = textwrap.dedent("""
    import sys
    from neuroadapt.scene.app import SceneApp

    calm, first, second = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = SceneApp("lagoon", headless=True, control=None, size=({w}, {h}),
                   set_values={{"water_calm": calm, "fog_density": 0.3}})
    app.screenshot(first)
    app.run(frames=30, close=False)
    app.screenshot(second)
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
    # Panda3D textures store the bottom row first.
    return rgb.reshape(image.getYSize(), image.getXSize(), 3)[::-1] / 255.0


def luminance(img: np.ndarray) -> np.ndarray:
    return img @ LUMA


def rows(img: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """Horizontal band between two fractions of the height (0 = top)."""
    h = img.shape[0]
    return img[int(h * top) : int(h * bottom)]


def water(img: np.ndarray) -> np.ndarray:
    return rows(img, 0.7, 1.0)  # the horizon sits near 0.45 from the top


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=90, env={**os.environ, **env}, cwd=cwd
    )


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("lagoon")
    jobs = {}
    for name, (values, env) in SHOTS.items():
        cmd = [
            sys.executable,
            "-m",
            "neuroadapt.scene.cli",
            "lagoon",
            "--headless",
            "--size",
            f"{SIZE[0]}x{SIZE[1]}",
            "--screenshot",
            str(out / f"{name}.png"),
        ]
        for key, value in values.items():
            cmd += ["--set", f"{key}={value}"]
        jobs[name] = (cmd, env)
    for calm in ("0", "1"):
        jobs[f"calm{calm}"] = (
            [
                sys.executable,
                "-c",
                ANIMATION,
                calm,
                str(out / f"calm{calm}.png"),
                str(out / f"calm{calm}_later.png"),
            ],
            {},
        )
    # Two at a time: each render keeps a core busy.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(lambda job: _run(*job, out), jobs.values()), strict=True))
    for name, proc in results.items():
        assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr
    images = {p.stem: load_png(p) for p in out.glob("*.png")}
    assert len(images) == len(SHOTS) + 4
    return images


def test_screenshots_are_real_pictures(shots):
    for name, img in shots.items():
        assert img.shape == (SIZE[1], SIZE[0], 3), name
        lum = luminance(img)
        assert 0.2 < lum.mean() < 0.9, name  # neither black nor blown out
        assert lum.std() > 0.05, name  # sky, islands and water differ


def test_fog_lowers_contrast_and_hides_the_islands(shots):
    clear, foggy = shots["fog0"], shots["fog1"]
    # Measured: whole image std 0.156 -> 0.105; horizon band 0.184 -> 0.059.
    assert luminance(foggy).std() < 0.85 * luminance(clear).std()
    band_clear = luminance(rows(clear, 0.4, 0.6)).std()
    band_foggy = luminance(rows(foggy, 0.4, 0.6)).std()
    assert band_foggy < 0.5 * band_clear
    # In dense fog the picture converges on one colour: less spread of hue too.
    spread = lambda img: np.linalg.norm(img - img.reshape(-1, 3).mean(0), axis=-1).mean()  # noqa: E731
    assert spread(foggy) < 0.8 * spread(clear)


def test_warm_light_is_redder(shots):
    ratio = lambda img: img[..., 0].mean() / img[..., 2].mean()  # noqa: E731
    # Measured: red/blue 0.86 (cool) -> 1.85 (warm).
    assert ratio(shots["cool"]) < 1.0 < 1.3 < ratio(shots["warm"])


def test_higher_sun_is_brighter(shots):
    # Measured: mean luminance 0.50 -> 0.73.
    assert luminance(shots["sun_high"]).mean() > luminance(shots["sun_low"]).mean() + 0.1


def test_choppy_water_has_more_detail_than_calm_water(shots):
    def detail(img):
        lum = luminance(water(img))
        return np.abs(np.diff(lum, axis=0)).mean() + np.abs(np.diff(lum, axis=1)).mean()

    # Measured: 0.054 (choppy) vs 0.005 (mirror).
    assert detail(shots["calm0"]) > 4 * detail(shots["calm1"])


def test_choppy_water_moves_between_frames_and_still_water_barely(shots):
    def motion(name, region):
        return np.abs(region(shots[f"{name}_later"]) - region(shots[name])).mean()

    sky = lambda img: rows(img, 0.0, 0.3)  # noqa: E731
    # Measured: water 0.062 (choppy) vs 0.0008 (mirror); the sky ~0.0001.
    assert motion("calm0", water) > 0.02
    assert motion("calm0", water) > 10 * motion("calm1", water)
    assert motion("calm0", sky) < 0.005  # no flicker where nothing should move


def test_software_fallback_renders_and_follows_fog(shots):
    clear, foggy = shots["soft_fog0"], shots["soft_fog1"]
    # Measured: horizon band std 0.161 -> 0.059 without shaders.
    assert luminance(rows(foggy, 0.4, 0.6)).std() < 0.5 * luminance(rows(clear, 0.4, 0.6)).std()
    # Same scene, same framing as with shaders: the picture is recognisably alike.
    assert np.abs(luminance(clear).mean() - luminance(shots["fog0"]).mean()) < 0.1

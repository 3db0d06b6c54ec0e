"""Forest clearing at golden hour: fir trees, grass, light shafts, fireflies, mist.

Look
----
A fixed, seated viewpoint at the edge of a grassy clearing ringed by fir
trees, with a low sun glowing through the far tree line. Everything is
procedural (no downloaded assets): trees are stacked cones, the grass is
thousands of thin blades, the sky is a dome, all built from seeded NumPy
arrays, so every run looks the same.

Rendering
---------
Every surface is shaded per vertex in NumPy (light, ambient sky, distance
mist, tone curve, saturation) and drawn with plain vertex colours, so GLSL
drivers and Panda3D's software ``p3tinydisplay`` show the same picture. The
camera never moves; colours are recomputed only when a parameter changes,
and per frame only the slow motions are written (tree and grass sway, the
fireflies' drift and the breathing glow).

Parameters (see ``scene.toml``)
-------------------------------
``mist``            distance fog, log scale of density, plus shafts of light
                    that show more in misty air.
``light_warmth``    cool shade to golden light (sun, sky, mist colour).
``brightness``      exposure and sun strength.
``wind``            sway of trees and grass, drift of fireflies.
``fireflies``       how many of the fireflies are lit.
``saturation``      colour saturation of the final picture.
``breathing_guide`` fades in a soft glow above the clearing whose size and
                    light follow ``breathing_rate`` (a sine: inhale grows).
"""

from __future__ import annotations

import math

import numpy as np
from panda3d.core import (
    LColor,
    NodePath,
)

from neuroadapt.scene import Scene
from neuroadapt.scene.geometry import (
    additive,
    beam_texture,
    billboards,
    glow_texture,
    grid_triangles,
    mesh,
    quads,
    rgba,
    vertex_data,
    write_colors,
    write_positions,
)

CAMERA_HEIGHT = 1.3  # m: seated eye height
CAMERA_PITCH = 3.0  # degrees up
CAMERA_FOV = 64.0  # horizontal degrees
CLEARING = np.array([0.0, 24.0])  # centre of the clearing (x, y), m
CLEARING_RADIUS = 15.0
SUN_AZIMUTH = -22.0  # degrees, left of straight ahead
SUN_ELEVATION = 7.0
SKY_RADIUS = 1500.0
MIST_DENSITY = (0.0012, 0.045)  # 1/m at mist 0 and 1 (log-interpolated)
N_FIREFLIES = 90
GUIDE_POS = (0.0, 17.0, 1.3)  # the breathing glow floats over the clearing
LUMA = np.array([0.2126, 0.7152, 0.0722])


def _lerp(a, b, t):
    return np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * t


def _saturation(value: float) -> float:
    """Saturation factor of the parameter: 0 almost grey, 0.5 natural (1.0), 1 vivid."""
    return 0.15 + 1.7 * value if value < 0.5 else 1.0 + 1.2 * (value - 0.5)


def _linear(rgb) -> np.ndarray:
    return np.asarray(rgb, dtype=float) ** 2.2


class _Look:
    """Everything the parameters decide, in linear light."""

    def __init__(self, v: dict[str, float]) -> None:
        warm = v.get("light_warmth", 0.5)
        bright = v.get("brightness", 0.5)
        mist = v.get("mist", 0.3)
        self.saturation = _saturation(v.get("saturation", 0.5))
        self.exposure = 0.55 + 1.5 * bright
        self.light = _linear(_lerp((0.78, 0.90, 1.00), (1.00, 0.70, 0.38), warm)) * (
            1.4 + 1.2 * bright
        )
        self.zenith = _linear(_lerp((0.22, 0.40, 0.68), (0.30, 0.36, 0.60), warm))
        self.horizon = _linear(_lerp((0.58, 0.74, 0.84), (0.98, 0.66, 0.38), warm))
        self.ambient = 0.45 * self.zenith + 0.35 * self.horizon
        self.mist_color = 0.7 * self.horizon + 0.3 * _linear(
            _lerp((0.62, 0.72, 0.80), (0.82, 0.70, 0.58), warm)
        )
        self.mist = mist
        self.density = MIST_DENSITY[0] * (MIST_DENSITY[1] / MIST_DENSITY[0]) ** mist
        el, az = math.radians(SUN_ELEVATION), math.radians(SUN_AZIMUTH)
        self.sun_dir = np.array(
            [math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)]
        )

    def finish(self, rgb: np.ndarray) -> np.ndarray:
        """Linear light (n, 3) to display colours: tone curve, then saturation."""
        c = (1.0 - np.exp(-np.maximum(rgb, 0.0) * self.exposure)) ** (1 / 2.2)
        y = (c @ LUMA)[..., None]
        return np.clip(y + (c - y) * self.saturation, 0.0, 1.0)

    def fog(self, rgb: np.ndarray, pos: np.ndarray, eye: np.ndarray) -> np.ndarray:
        """Mix toward the mist colour with distance; mist hangs thicker near the ground."""
        d = np.linalg.norm(pos - eye, axis=1)
        low = 1.0 + 1.2 * np.exp(-np.maximum(pos[:, 2], 0.0) / 4.0)
        t = np.exp(-self.density * d * low)[:, None]
        return self.mist_color + (rgb - self.mist_color) * t


# --------------------------------------------------------------------------------------
# Geometry helpers


class ForestScene(Scene):
    """A clearing in a fir forest whose mist, light, wind and fireflies follow the parameters."""

    def build(self) -> None:
        self._rng = np.random.default_rng(20240611)
        self._values = self.manifest.defaults()
        self._last_key: tuple | None = None
        self._breath_phase = 0.0
        self._wind_phase = 0.0
        self._drift_phase = 0.0
        lens = self.camera.node().getLens()
        lens.setFov(CAMERA_FOV)
        lens.setNearFar(0.2, SKY_RADIUS * 1.5)
        self.camera.setPos(0, 0, CAMERA_HEIGHT)
        self.camera.setHpr(0, CAMERA_PITCH, 0)
        self._eye = np.array([0.0, 0.0, CAMERA_HEIGHT])
        quat = self.camera.getQuat(self.render)
        self._right = np.array(quat.getRight())
        self._up = np.array(quat.getUp())
        self.root.setLightOff(1)
        self.root.setShaderOff(1)
        self._glow = glow_texture()

        self._sky = self._make_sky()
        self._ground = self._make_ground()
        self._trees = self._make_trees()
        self._grass = self._make_grass()
        self._shafts = self._make_shafts()
        self._fireflies = self._make_fireflies()
        self._orb = self._make_orb()
        self.apply(self._values)
        self.update(0.0, 0.0)

    # -- building ---------------------------------------------------------------------------

    def _make_sky(self) -> NodePath:
        u = np.linspace(0.0, 1.0, 40)
        elev = np.concatenate([[-0.2], u**1.8 * (math.pi / 2)])
        az = np.linspace(0.0, 2 * math.pi, 97)[:-1]
        e, a = np.meshgrid(elev, az, indexing="ij")
        dirs = np.stack([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)], -1)
        self._sky_dirs = dirs.reshape(-1, 3)
        sky = mesh(
            "sky", self._sky_dirs * SKY_RADIUS, grid_triangles(len(elev), len(az), wrap=True)
        )
        sky.reparentTo(self.root)
        sky.setPos(*self._eye)
        sky.setBin("background", 0)
        sky.setDepthWrite(False)
        sky.setTwoSided(True)
        return sky

    def _make_ground(self) -> NodePath:
        radius = np.concatenate([[0.0], np.geomspace(0.5, 900.0, 50)])
        az = np.linspace(0.0, 2 * math.pi, 121)[:-1]
        r, a = np.meshgrid(radius, az, indexing="ij")
        x, y = r * np.sin(a), r * np.cos(a)
        pos = np.stack([x, y, np.zeros_like(r)], -1).reshape(-1, 3)
        self._ground_pos = pos
        # Grass in the clearing, needle litter and moss under the trees.
        d = np.hypot(pos[:, 0] - CLEARING[0], pos[:, 1] - CLEARING[1])
        near = np.clip((14.0 - np.hypot(pos[:, 0] * 0.8, pos[:, 1])) / 6.0, 0.0, 1.0)
        self._ground_open = np.maximum(np.clip((CLEARING_RADIUS + 4.0 - d) / 8.0, 0.0, 1.0), near)
        n = np.sin(pos[:, 0] * 0.35 + 1.3) * np.sin(pos[:, 1] * 0.27) * 0.5 + 0.5
        grass = _linear(_lerp((0.20, 0.30, 0.08), (0.30, 0.38, 0.10), n[:, None]))
        floor = _linear((0.10, 0.10, 0.06))
        self._ground_albedo = floor + (grass - floor) * self._ground_open[:, None]
        ground = mesh("ground", pos, grid_triangles(len(radius), len(az), wrap=True))
        ground.reparentTo(self.root)
        ground.setTwoSided(True)
        return ground

    def _tree_positions(self) -> list[tuple[float, float, float]]:
        rng = self._rng
        trees = []
        while len(trees) < 150:
            ang = math.radians(rng.uniform(-100.0, 100.0))
            dist = 14.0 + 150.0 * rng.random() ** 1.6
            x, y = dist * math.sin(ang), dist * math.cos(ang)
            if math.hypot(x - CLEARING[0], y - CLEARING[1]) < CLEARING_RADIUS + rng.uniform(0, 3):
                continue
            if abs(ang) < math.radians(40.0) and dist < 24.0:
                continue  # nothing looms in front of the viewer
            trees.append((x, y, rng.uniform(9.0, 20.0) * (1.0 + dist / 300.0)))
        # Farthest first is irrelevant with a depth buffer; keep a stable order.
        return trees

    def _make_trees(self) -> NodePath:
        rng = self._rng
        pos_list, tri_list, alb_list, norm_list, sway_list = [], [], [], [], []
        offset = 0
        segs = 10
        ring = np.linspace(0.0, 2 * math.pi, segs + 1)[:-1]
        for x, y, h in self._tree_positions():
            tiers = 4
            phase = rng.uniform(0, 2 * math.pi)
            shade = rng.uniform(0.75, 1.15)
            parts = [(0.25, 0.0, h * 0.25, (0.30, 0.20, 0.13))]  # trunk: radius, z0, z1
            for k in range(tiers):
                z0 = h * (0.16 + 0.19 * k)
                z1 = min(h, z0 + h * 0.34 + (0.1 * h if k == tiers - 1 else 0.0))
                parts.append((h * 0.17 * (1.0 - 0.21 * k), z0, z1, (0.15, 0.30, 0.13)))
            for rad, z0, z1, col in parts:
                base = np.stack(
                    [x + rad * np.cos(ring), y + rad * np.sin(ring), np.full(segs, z0)], -1
                )
                top = np.stack(
                    [
                        x + 0.15 * rad * np.cos(ring) * (col[0] > 0.12),
                        y + 0.15 * rad * np.sin(ring) * (col[0] > 0.12),
                        np.full(segs, z1),
                    ],
                    -1,
                )
                p = np.concatenate([base, top])
                nrm = np.concatenate(
                    [
                        np.stack(
                            [np.cos(ring), np.sin(ring), np.full(segs, rad / max(z1 - z0, 0.1))], -1
                        )
                    ]
                    * 2
                )
                nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
                i = np.arange(segs)
                j = (i + 1) % segs
                tris = (
                    np.concatenate(
                        [np.stack([i, j, j + segs], -1), np.stack([i, j + segs, i + segs], -1)]
                    )
                    + offset
                )
                pos_list.append(p)
                norm_list.append(nrm)
                tri_list.append(tris)
                # Upper vertices a shade lighter: the sky lights the tips.
                lift = np.concatenate([np.full(segs, 0.8), np.full(segs, 1.15)])[:, None]
                alb_list.append(_linear(col) * shade * lift)
                # Sway weight grows with height: trunks stay rooted.
                sway_list.append(np.stack([(p[:, 2] / h) ** 2, np.full(2 * segs, phase)], -1))
                offset += 2 * segs
        self._tree_pos = np.concatenate(pos_list)
        self._tree_norm = np.concatenate(norm_list)
        self._tree_albedo = np.concatenate(alb_list)
        sway = np.concatenate(sway_list)
        self._tree_weight, self._tree_phase = sway[:, 0], sway[:, 1]
        trees = mesh("trees", self._tree_pos, np.concatenate(tri_list), dynamic=True)
        trees.reparentTo(self.root)
        trees.setTwoSided(True)
        return trees

    def _make_grass(self) -> NodePath:
        rng = self._rng
        n = 5000
        ang = rng.uniform(0, 2 * math.pi, n)
        rad = CLEARING_RADIUS * np.sqrt(rng.random(n)) * 1.4
        cx = CLEARING[0] + rad * np.sin(ang)
        cy = CLEARING[1] + rad * np.cos(ang) * 1.2
        keep = cy > 3.0
        cx, cy = cx[keep], cy[keep]
        n = len(cx)
        h = rng.uniform(0.25, 0.6, n)
        w = 0.03 + 0.02 * rng.random(n)
        lean = rng.uniform(-0.12, 0.12, (n, 2))
        base_l = np.stack([cx - w, cy, np.zeros(n)], -1)
        base_r = np.stack([cx + w, cy, np.zeros(n)], -1)
        tip = np.stack([cx + lean[:, 0], cy + lean[:, 1], h], -1)
        self._grass_pos = np.stack([base_l, base_r, tip], 1).reshape(-1, 3)
        self._grass_weight = np.tile([0.0, 0.0, 1.0], n)
        self._grass_phase = np.repeat(
            rng.uniform(0, 2 * math.pi, n) * 0.3 + cx * 0.15 + cy * 0.05, 3
        )
        tone = rng.uniform(0.75, 1.2, n)
        alb = np.stack(
            [
                np.outer(tone, _linear((0.16, 0.26, 0.06))),
                np.outer(tone, _linear((0.16, 0.26, 0.06))),
                np.outer(tone, _linear((0.42, 0.50, 0.18))),
            ],
            1,
        ).reshape(-1, 3)
        self._grass_albedo = alb
        grass = mesh("grass", self._grass_pos, np.arange(3 * n).reshape(-1, 3), dynamic=True)
        grass.reparentTo(self.root)
        grass.setTwoSided(True)
        return grass

    def _make_shafts(self) -> NodePath:
        # Beams from the sun's side of the canopy down into the clearing.
        rng = np.random.default_rng(5)
        n = 6
        tris, uv = quads(n)
        ends = np.stack(
            [
                CLEARING[0] + rng.uniform(-10, 6, n),
                CLEARING[1] + rng.uniform(-6, 8, n),
                np.zeros(n),
            ],
            -1,
        )
        length = 45.0
        starts = ends + self._sun_dir() * length
        view = ends - self._eye
        axis = starts - ends
        side = np.cross(axis, view)
        side /= np.linalg.norm(side, axis=1, keepdims=True)
        width = rng.uniform(0.6, 1.6, n)[:, None]
        pos = np.stack(
            [
                ends - side * width,
                ends + side * width,
                starts + side * width * 2.2,
                starts - side * width * 2.2,
            ],
            1,
        )
        self._shaft_strength = rng.uniform(0.5, 1.0, n)
        shafts = mesh("shafts", pos.reshape(-1, 3), tris, uv=uv)
        # Brightest where the beam meets the ground, fading into the canopy.
        self._shaft_fade = np.tile([0.8, 0.8, 0.0, 0.0], n) * np.repeat(self._shaft_strength, 4)
        shafts.setTexture(beam_texture())
        additive(shafts, 10)
        shafts.reparentTo(self.root)
        return shafts

    def _sun_dir(self) -> np.ndarray:
        el, az = math.radians(SUN_ELEVATION + 30.0), math.radians(SUN_AZIMUTH)
        return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])

    def _make_fireflies(self) -> NodePath:
        rng = np.random.default_rng(17)
        n = N_FIREFLIES
        self._ff_base = np.stack(
            [rng.uniform(-14, 14, n), rng.uniform(9, 40, n), rng.uniform(0.3, 2.6, n)], -1
        )
        self._ff_phase = rng.uniform(0, 2 * math.pi, (n, 4))
        self._ff_freq = rng.uniform(0.05, 0.12, (n, 3))
        self._ff_pos = self._ff_base.copy()
        tris, uv = quads(n)
        self._ff_uv = uv
        node = mesh(
            "fireflies",
            billboards(self._ff_base, np.full(n, 0.2), self._right, self._up),
            tris,
            uv=uv,
            dynamic=True,
        )
        node.setTexture(self._glow)
        additive(node, 20)
        node.reparentTo(self.root)
        return node

    def _make_orb(self) -> NodePath:
        tris, uv = quads(2)
        self._orb_uv = uv
        centre = np.array([GUIDE_POS])
        node = mesh(
            "breathing-guide",
            billboards(np.repeat(centre, 2, 0), np.array([1.0, 2.0]), self._right, self._up),
            tris,
            uv=uv,
            dynamic=True,
        )
        node.setTexture(self._glow)
        additive(node, 30)
        node.reparentTo(self.root)
        return node

    # -- per frame ------------------------------------------------------------------------

    def apply(self, values: dict[str, float]) -> None:
        self._values = dict(values)
        key = tuple(
            round(values.get(n, 0.0), 5)
            for n in self.manifest.names
            if n not in ("breathing_guide", "breathing_rate", "wind", "fireflies")
        )
        if key == self._last_key:
            return
        self._last_key = key
        look = self._look = _Look(values)
        self.win is not None and self.win.setClearColor(
            LColor(*look.finish(look.mist_color[None])[0], 1)
        )
        # Sky: gradient, glow around the low sun, mist at the horizon.
        d = self._sky_dirs
        e = np.clip(d[:, 2], 0.0, 1.0)
        m = np.maximum(d @ look.sun_dir, 0.0)
        sky = look.horizon + (look.zenith - look.horizon) * (1.0 - np.exp(-e * 4.0))[:, None]
        sky = sky + look.light * (0.25 * m**6 + 0.8 * m**60)[:, None]
        haze = np.exp(-look.density * 15.0 / np.maximum(e, 0.03))[:, None]
        sky = look.mist_color + (sky - look.mist_color) * haze
        write_colors(vertex_data(self._sky), rgba(look.finish(sky)))
        self._shade_static(look)

    def _shade_static(self, look: _Look) -> None:
        eye = self._eye
        # Ground: light pool in the clearing, shade under the canopy.
        pos = self._ground_pos
        lit = 0.25 + 0.75 * self._ground_open[:, None]
        c = self._ground_albedo * (look.ambient + look.light * 0.55 * lit)
        write_colors(vertex_data(self._ground), rgba(look.finish(look.fog(c, pos, eye))))
        self._tree_colors(look)
        c = self._grass_albedo * (look.ambient + look.light * 0.6)
        self._grass_rgb = look.finish(look.fog(c, self._grass_pos, eye))
        write_colors(vertex_data(self._grass), rgba(self._grass_rgb))
        # Shafts show the light scattered by mist: more mist, brighter beams.
        strength = 0.06 + 0.16 * look.mist
        rgb = look.finish(look.light[None] * 0.25)[0] * strength
        write_colors(vertex_data(self._shafts), rgba(np.outer(self._shaft_fade, rgb), 1.0))

    def _tree_colors(self, look: _Look) -> None:
        sun = look.sun_dir
        diffuse = np.clip((self._tree_norm @ sun + 0.3) / 1.3, 0.0, None)[:, None]
        c = self._tree_albedo * (look.ambient * 0.8 + look.light * 0.45 * diffuse)
        write_colors(
            vertex_data(self._trees), rgba(look.finish(look.fog(c, self._tree_pos, self._eye)))
        )

    def update(self, dt: float, t: float) -> None:
        v = self._values
        wind = v.get("wind", 0.3)
        # Integrated phases: a change of wind or pace bends the motion smoothly
        # instead of jumping the pattern.
        self._wind_phase += dt * (0.25 + 0.5 * wind)
        self._drift_phase += dt * (0.4 + 0.8 * wind)
        self._breath_phase += dt * v.get("breathing_rate", 6.0) / 60.0
        if dt > 0 or t == 0.0:
            self._sway(wind)
        self._update_fireflies(v.get("fireflies", 0.3))
        self._update_orb(v.get("breathing_guide", 0.0))

    def _sway(self, wind: float) -> None:
        amp = 0.05 + 0.5 * wind
        s = np.sin(self._wind_phase + self._tree_phase) * amp * self._tree_weight
        pos = self._tree_pos.copy()
        pos[:, 0] += s
        pos[:, 1] += 0.4 * s
        write_positions(vertex_data(self._trees), pos)
        g = np.sin(self._wind_phase * 1.3 + self._grass_phase) * (0.02 + 0.12 * wind)
        gp = self._grass_pos.copy()
        gp[:, 0] += g * self._grass_weight
        write_positions(vertex_data(self._grass), gp)

    def _update_fireflies(self, density: float) -> None:
        ph, fr = self._ff_phase, self._ff_freq
        p = self._drift_phase
        offs = np.stack(
            [
                1.2 * np.sin(fr[:, 0] * 6 * p + ph[:, 0]),
                1.0 * np.sin(fr[:, 1] * 6 * p + ph[:, 1]),
                0.4 * np.sin(fr[:, 2] * 6 * p + ph[:, 2]),
            ],
            -1,
        )
        centres = self._ff_base + offs
        n = N_FIREFLIES
        # Lit one after another as density rises: each fades in over 1/n of the range.
        alpha = np.clip(density * n - np.arange(n), 0.0, 1.0)
        # A slow glow (about 0.1 Hz), never a blink.
        glow = 0.65 + 0.35 * np.sin(self._drift_phase * 0.6 + ph[:, 3])
        look = self._look
        col = look.finish(np.array([[1.0, 0.85, 0.30]]) * 3.0)[0]
        rgb = np.outer(alpha * glow, col)
        write_positions(
            vertex_data(self._fireflies),
            billboards(centres, np.full(n, 0.22), self._right, self._up),
            self._ff_uv,
        )
        write_colors(vertex_data(self._fireflies), rgba(np.repeat(rgb, 4, 0)))

    def _update_orb(self, guide: float) -> None:
        if guide <= 0.0:
            self._orb.hide()
            return
        self._orb.show()
        b = 0.5 - 0.5 * math.cos(2 * math.pi * self._breath_phase)
        # Inhale: the glow grows and brightens; exhale: it settles; always visible.
        core, halo = 0.8 + 0.4 * b, 2.2 + 1.0 * b
        col = self._look.finish(np.array([[1.0, 0.9, 0.7]]) * 2.0)[0]
        light = guide * (0.7 + 0.3 * b)
        rgb = np.array([col * light, col * light * 0.5])
        centre = np.repeat(np.array([GUIDE_POS]), 2, 0)
        write_positions(
            vertex_data(self._orb),
            billboards(centre, np.array([core, halo]), self._right, self._up),
            self._orb_uv,
        )
        write_colors(vertex_data(self._orb), rgba(np.repeat(rgb, 4, 0)))

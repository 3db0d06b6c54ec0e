"""Night sky with aurora: stars, folding curtains of light, a still lake mirroring them.

Look
----
A fixed, seated viewpoint on a lake shore at night, looking north over the
water to a forested shore and low hills. Curtains of aurora fold slowly
across the sky; the lake mirrors them, the stars and the hills. Everything
is procedural (no downloaded assets) and seeded, so every run looks the same.

Rendering
---------
Sky, water, hills and stars are shaded per vertex in NumPy (same on every
back end). The curtains are ribbons whose folds are moved in NumPy every
frame; with GLSL a small shader adds their fine vertical rays, drifting
slowly; without shaders (Panda3D's ``p3tinydisplay``) the ribbons keep their
colour, shape and motion, only the rays are missing. The lake is the lower
half of the sky dome coloured as a dark reflection, with the hills, stars,
curtains and breathing light drawn a second time mirrored under it.

Parameters (see ``scene.toml``)
-------------------------------
``aurora_intensity``  brightness of the curtains and of the sky glow they cast.
``aurora_motion``     speed of the folds and the drift of the rays.
``light_warmth``      cyan-green/blue-violet to yellow-green/rose curtains.
``star_density``      how many of the stars are lit (faintest last).
``mist``              haze toward the horizon and over the water.
``saturation``        colour saturation of the final picture.
``breathing_guide``   fades in a soft light over the lake whose size and light
                      follow ``breathing_rate`` (a sine: inhale grows).
"""

from __future__ import annotations

import math

import numpy as np
from panda3d.core import (
    LColor,
    NodePath,
    Shader,
)

from neuroadapt.scene import Scene
from neuroadapt.scene.geometry import (
    additive,
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

CAMERA_HEIGHT = 1.5
CAMERA_PITCH = 12.0  # degrees up: mostly sky, the lake below
CAMERA_FOV = 66.0
SKY_RADIUS = 4000.0
STAR_RADIUS = 3600.0
N_STARS = 1400
EXPOSURE = 1.6
GUIDE_POS = (0.0, 260.0, 16.0)
LUMA = np.array([0.2126, 0.7152, 0.0722])
# Curtains: (distance m, azimuth span degrees, base elevation deg, height deg, seed)
CURTAINS = (
    (900.0, (-75.0, 35.0), 6.0, 34.0, 1),
    (1500.0, (-15.0, 85.0), 8.0, 30.0, 2),
    (650.0, (-50.0, 5.0), 17.0, 40.0, 3),
)
ROWS = np.array([0.0, 0.03, 0.09, 0.2, 0.4, 0.7, 1.0])
PROFILE = np.array([0.0, 0.85, 1.0, 0.7, 0.3, 0.06, 0.0])  # light along the height
N_COLS = 140


def _lerp(a, b, t):
    return np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * t


def _saturation(value: float) -> float:
    """Saturation factor of the parameter: 0 almost grey, 0.5 natural (1.0), 1 vivid."""
    return 0.15 + 1.7 * value if value < 0.5 else 1.0 + 1.2 * (value - 0.5)


def _linear(rgb) -> np.ndarray:
    return np.asarray(rgb, dtype=float) ** 2.2


_AURORA_VERT = """
#version 150
uniform mat4 p3d_ModelViewProjectionMatrix;
in vec4 p3d_Vertex;
in vec4 p3d_Color;
in vec2 p3d_MultiTexCoord0;
out vec4 v_color;
out vec2 v_uv;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
    v_color = p3d_Color;
    v_uv = p3d_MultiTexCoord0;
}
"""

_AURORA_FRAG = """
#version 150
uniform vec4 p3d_ColorScale;
uniform float u_drift;
in vec4 v_color;
in vec2 v_uv;
out vec4 p3d_FragColor;
void main() {
    // Fine vertical rays: a few incommensurate sines along the curtain,
    // drifting slowly sideways; they stretch upward and blur at the top.
    float u = v_uv.x;
    float r = 0.5 + 0.22 * sin(u * 97.0 + u_drift * 1.3)
                  + 0.16 * sin(u * 211.0 - u_drift * 0.9)
                  + 0.12 * sin(u * 53.0 + u_drift * 0.5);
    float rays = mix(0.35 + 1.0 * r, 1.0, smoothstep(0.4, 1.0, v_uv.y));
    p3d_FragColor = vec4(v_color.rgb * rays, 1.0) * p3d_ColorScale;
}
"""


class _Look:
    """Everything the parameters decide, in linear light."""

    def __init__(self, v: dict[str, float]) -> None:
        warm = v.get("light_warmth", 0.4)
        self.intensity = v.get("aurora_intensity", 0.5)
        self.mist = v.get("mist", 0.2)
        self.stars = v.get("star_density", 0.5)
        self.saturation = _saturation(v.get("saturation", 0.5))
        self.low = _linear(_lerp((0.10, 1.00, 0.62), (0.55, 1.00, 0.35), warm))
        self.high = _linear(_lerp((0.38, 0.30, 1.00), (1.00, 0.32, 0.46), warm))
        self.strength = 0.05 + 0.5 * self.intensity
        glow = self.low * 0.7 + self.high * 0.3
        self.zenith = _linear((0.012, 0.018, 0.045)) + glow * 0.004 * self.strength
        self.horizon = _linear((0.05, 0.07, 0.12)) + glow * 0.03 * self.strength
        self.haze_color = _linear((0.16, 0.19, 0.25)) + glow * 0.04 * self.strength
        self.haze = 0.004 + 0.45 * self.mist**1.3

    def finish(self, rgb: np.ndarray) -> np.ndarray:
        c = (1.0 - np.exp(-np.maximum(rgb, 0.0) * EXPOSURE)) ** (1 / 2.2)
        y = (c @ LUMA)[..., None]
        return np.clip(y + (c - y) * self.saturation, 0.0, 1.0)

    def sky(self, d: np.ndarray) -> np.ndarray:
        """Linear sky colour toward unit directions ``d`` (n, 3), above the horizon."""
        e = np.clip(d[:, 2], 0.0, 1.0)
        c = self.horizon + (self.zenith - self.horizon) * (1.0 - np.exp(-e * 6.0))[:, None]
        # The curtains light the sky to the north a little.
        north = np.clip(d[:, 1], 0.0, 1.0)[:, None] * np.exp(-e * 4.0)[:, None]
        c = c + (self.low * 0.02 * self.strength) * north
        return self.veil(c, e)

    def veil(self, c: np.ndarray, e: np.ndarray) -> np.ndarray:
        t = np.exp(-self.haze / np.maximum(e, 0.02))[:, None]
        return self.haze_color + (c - self.haze_color) * t


# Geometry helpers


class AuroraScene(Scene):
    """A night lake under folding aurora; curtains, stars and haze follow the parameters."""

    def build(self) -> None:
        self._values = self.manifest.defaults()
        self._last_key: tuple | None = None
        self._fold = 0.0
        self._drift = 0.0
        self._breath_phase = 0.0
        self._repaint = 0.0
        self._shaders = self.shaders_available
        lens = self.camera.node().getLens()
        lens.setFov(CAMERA_FOV)
        lens.setNearFar(1.0, SKY_RADIUS * 1.5)
        self.camera.setPos(0, 0, CAMERA_HEIGHT)
        self.camera.setHpr(0, CAMERA_PITCH, 0)
        self._eye = np.array([0.0, 0.0, CAMERA_HEIGHT])
        quat = self.camera.getQuat(self.render)
        self._right, self._up = np.array(quat.getRight()), np.array(quat.getUp())
        self.root.setLightOff(1)
        self.root.setShaderOff(1)
        self._glow = glow_texture()

        # Everything that shows in the lake hangs under `world` and is instanced
        # mirrored (z -> -z about the water line) under `mirror`.
        self._world = self.root.attachNewNode("world")
        self._mirror = self.root.attachNewNode("mirror")
        self._mirror.setPos(0, 0, 0)
        self._mirror.setScale(1, 1, -1)
        self._sky = self._make_sky()
        self._land = self._make_land()
        self._stars = self._make_stars()
        self._curtains = self._make_curtains()
        self._orb = self._make_orb()
        self._world.instanceTo(self._mirror)
        self._mirror.setTwoSided(True)
        self.apply(self._values)
        self.update(0.0, 0.0)

    # -- building ---------------------------------------------------------------------------

    def _make_sky(self) -> NodePath:
        # A full sphere: the upper half is sky, the lower half the lake's dark
        # body onto which the mirrored world is drawn.
        u = np.linspace(-1.0, 1.0, 61)
        elev = np.sign(u) * np.abs(u) ** 1.8 * (math.pi / 2)
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

    def _make_land(self) -> NodePath:
        rng = np.random.default_rng(7)
        parts = []
        # Far hills, nearer hills, then the forested far shore with tree spikes.
        for dist, height, rough, n in (
            (3200.0, 260.0, 1.0, 260),
            (1700.0, 110.0, 0.8, 260),
            (420.0, 0.0, 0.0, 900),
        ):
            ang = np.linspace(math.radians(-95), math.radians(95), n)
            if height > 0:
                t = ang * 6.0
                top = height * (
                    0.55
                    + 0.3
                    * sum(np.sin(t * 2**k + rng.uniform(0, 6)) / 2**k for k in range(5))
                    * rough
                )
                top = np.maximum(top, 8.0)
            else:
                # Fir tips: a saw edge of random heights above a low bank.
                spikes = rng.uniform(9.0, 22.0, n)
                top = np.where(np.arange(n) % 2 == 0, spikes, spikes * 0.45) + 3.0
            r = dist * (1.0 + 0.05 * np.sin(ang * 3.0 + dist))
            x, y = r * np.sin(ang), r * np.cos(ang)
            bottom = np.stack([x, y, np.full(n, -0.5)], -1)
            upper = np.stack([x, y, top], -1)
            pos = np.concatenate([bottom, upper])
            i = np.arange(n - 1)
            tris = np.concatenate(
                [np.stack([i, i + 1, i + 1 + n], -1), np.stack([i, i + 1 + n, i + n], -1)]
            )
            parts.append((pos, tris, dist))
        offset, pos_all, tri_all, dist_all = 0, [], [], []
        for pos, tris, dist in parts:
            pos_all.append(pos)
            tri_all.append(tris + offset)
            dist_all.append(np.full(len(pos), dist))
            offset += len(pos)
        self._land_pos = np.concatenate(pos_all)
        self._land_dist = np.concatenate(dist_all)
        tris = np.concatenate(tri_all)
        land = mesh("land", self._land_pos, tris)
        # The shore's mirror image is its own mesh (not an instance under the
        # mirror): haze on the water must lighten it, not darken it.
        self._land_mirror = mesh("land-reflection", self._land_pos * np.array([1, 1, -1]), tris)
        for node in (land, self._land_mirror):
            node.reparentTo(self.root)
            node.setTwoSided(True)
            node.setBin("background", 5)  # over the stars, under the curtains
        return land

    def _make_stars(self) -> NodePath:
        rng = np.random.default_rng(42)
        n = N_STARS
        # Uniform on the upper hemisphere in front of the viewer.
        az = rng.uniform(-1.3, 1.3, n)
        z = rng.uniform(0.02, 1.0, n) ** 1.3
        d = np.stack([np.sqrt(1 - z**2) * np.sin(az), np.sqrt(1 - z**2) * np.cos(az), z], -1)
        self._star_dirs = d
        # Magnitudes: few bright, many faint; the faint ones appear last as density rises.
        mag = np.sort(rng.random(n) ** 3)[::-1]
        self._star_mag = 0.25 + 0.75 * mag
        self._star_tint = _linear(
            _lerp((0.75, 0.82, 1.0), (1.0, 0.9, 0.78), rng.random(n)[:, None])
        )
        size = STAR_RADIUS * math.tan(math.radians(0.28)) * (0.7 + 0.6 * mag)
        tris, uv = quads(n)
        pos = billboards(d * STAR_RADIUS + self._eye, size, self._right, self._up)
        stars = mesh("stars", pos, tris, uv=uv)
        stars.setTexture(self._glow)
        additive(stars, 0)
        stars.setBin("background", 2)
        stars.reparentTo(self._world)
        return stars

    def _make_curtains(self) -> NodePath:
        self._curtain_base = []
        tris_all, uv_all, offset = [], [], 0
        s = np.linspace(0.0, 1.0, N_COLS)
        for dist, (a0, a1), base, height, seed in CURTAINS:
            rng = np.random.default_rng(seed)
            self._curtain_base.append(
                (
                    dist,
                    math.radians(a0),
                    math.radians(a1),
                    math.radians(base),
                    math.radians(height),
                    rng.uniform(0, 6.28, 4),
                    rng.uniform(0.7, 1.3),
                )
            )
            uv = np.stack(
                np.meshgrid(s * (a1 - a0) / 30.0 + seed, ROWS, indexing="ij"), -1
            ).reshape(-1, 2)
            uv_all.append(uv)
            tris_all.append(grid_triangles(N_COLS, len(ROWS)) + offset)
            offset += N_COLS * len(ROWS)
        self._curtain_uv = np.concatenate(uv_all)
        node = mesh(
            "aurora",
            self._curtain_positions(),
            np.concatenate(tris_all),
            uv=self._curtain_uv,
            dynamic=True,
        )
        additive(node, 0)
        node.setBin("background", 10)
        if self._shaders:
            node.setShader(Shader.make(Shader.SL_GLSL, _AURORA_VERT, _AURORA_FRAG), 2)
            node.setShaderInput("u_drift", 0.0)
        if self._shaders:
            node.reparentTo(self._world)
        # Without shaders the software rasteriser draws shared triangle edges of
        # additive ribbons twice (bright seams): the curtains are painted into
        # the sky's vertex colours instead (see _baked_aurora).
        return node

    def _curtain_positions(self) -> np.ndarray:
        out = []
        s = np.linspace(0.0, 1.0, N_COLS)
        f = self._fold
        for dist, a0, a1, base, height, ph, _weight in self._curtain_base:
            # Folds: the curtain bends toward and away from the viewer, which
            # bunches and spreads its rays sideways across the sky.
            fold = (
                0.16 * np.sin(s * 7.0 + ph[0] + f * 1.0)
                + 0.08 * np.sin(s * 15.0 + ph[1] - f * 1.6)
                + 0.05 * np.sin(s * 3.0 + ph[2] + f * 0.5)
            )
            az = a0 + (a1 - a0) * s + 0.12 * fold
            r = dist * (1.0 + fold)
            lift = base + 0.04 * np.sin(s * 5.0 + ph[3] + f * 0.7)
            el = lift[:, None] + height * ROWS[None, :]
            rr = r[:, None] * np.ones_like(el)
            pos = np.stack(
                [rr * np.sin(az)[:, None], rr * np.cos(az)[:, None], rr * np.tan(el)], -1
            )
            out.append(pos.reshape(-1, 3) + self._eye)
        return np.concatenate(out)

    def _make_orb(self) -> NodePath:
        tris, uv = quads(2)
        self._orb_uv = uv
        node = mesh("breathing-guide", np.zeros((8, 3)), tris, uv=uv, dynamic=True)
        node.setTexture(self._glow)
        additive(node, 0)
        node.setBin("background", 20)
        node.reparentTo(self._world)
        return node

    # -- per frame ------------------------------------------------------------------------

    def apply(self, values: dict[str, float]) -> None:
        self._values = dict(values)
        key = tuple(
            round(values.get(n, 0.0), 5)
            for n in self.manifest.names
            if n not in ("breathing_guide", "breathing_rate", "aurora_motion")
        )
        if key == self._last_key:
            return
        self._last_key = key
        look = self._look = _Look(values)
        # Sky above; below, the lake: a dim mirror of the sky in a dark body,
        # veiled by haze lying on the water.
        d = self._sky_dirs
        up = d * np.array([1.0, 1.0, -1.0])
        sky = look.sky(np.where(d[:, 2:3] >= 0, d, up))
        below = d[:, 2] < 0
        water = _linear((0.01, 0.015, 0.025)) + 0.55 * sky
        water = look.veil(water, np.abs(d[:, 2]) * (1.0 - 0.6 * look.mist))
        c = np.where(below[:, None], water, sky)
        self._sky_lin = c
        self._write_sky(look)
        if self.win is not None:
            self.win.setClearColor(LColor(*look.finish(look.horizon[None])[0], 1))
        # Land: near-black silhouettes, faintly lit by the aurora, hazed with distance.
        rel = self._land_pos - self._eye
        e = np.clip(rel[:, 2] / np.linalg.norm(rel, axis=1), 0.0, 1.0)
        land = _linear((0.012, 0.016, 0.02)) + look.low * 0.004 * look.strength
        tr = np.exp(-look.haze * 30.0 * self._land_dist / 1000.0)[:, None]
        land = look.haze_color + (land - look.haze_color) * tr
        land = look.veil(np.broadcast_to(land, rel.shape), np.maximum(e, 0.05))
        write_colors(vertex_data(self._land), rgba(look.finish(land)))
        water_haze = look.veil(
            _linear((0.01, 0.015, 0.025)) + 0.55 * look.horizon[None], np.array([0.02])
        )
        mirror = water_haze + (land * 0.5 - water_haze) * math.exp(-3.0 * look.mist)
        write_colors(vertex_data(self._land_mirror), rgba(look.finish(mirror)))
        # Stars: the brightest first; haze dims them toward the horizon.
        n = N_STARS
        lit = np.clip(look.stars * n * 0.92 + 0.08 * n - np.arange(n), 0.0, 1.0)
        e = self._star_dirs[:, 2]
        veil = np.exp(-look.haze * 2.0 / np.maximum(e, 0.02)) * (1.0 - 0.5 * look.mist)
        rgb = self._star_tint * (self._star_mag * lit * veil)[:, None] * 1.6
        write_colors(vertex_data(self._stars), rgba(np.repeat(look.finish(rgb), 4, 0)))
        self._shade_curtains(look)
        # The reflection is dimmer, and fades under a hazy layer on the water.
        k = 0.5 * (1.0 - 0.75 * look.mist)
        self._mirror.setColorScale(k, k, k, 1.0)

    def _write_sky(self, look: _Look) -> None:
        c = self._sky_lin
        if not self._shaders:
            d = self._sky_dirs
            mirrored = d * np.array([1.0, 1.0, -1.0])
            k = 0.5 * (1.0 - 0.75 * look.mist)
            c = c + np.where(
                d[:, 2:3] >= 0, self._baked_aurora(d, look), k * self._baked_aurora(mirrored, look)
            )
        write_colors(vertex_data(self._sky), rgba(look.finish(c)))

    def _baked_aurora(self, d: np.ndarray, look: _Look) -> np.ndarray:
        """Curtain light toward unit directions ``d`` (n, 3), linear; software path only."""
        az = np.arctan2(d[:, 0], d[:, 1])
        el = np.arcsin(np.clip(d[:, 2], -1.0, 1.0))
        out = np.zeros((len(d), 3))
        mix_t = np.clip(ROWS / 0.55, 0.0, 1.0)
        for _dist, a0, a1, base, height, ph, weight in self._curtain_base:
            s = (az - a0) / (a1 - a0)
            inside = (s > 0) & (s < 1)
            s = np.clip(s, 0.0, 1.0)
            lift = base + 0.04 * np.sin(s * 5.0 + ph[3] + self._fold * 0.7)
            v = (el - lift) / height
            prof = np.interp(v, ROWS, PROFILE, left=0.0, right=0.0)
            along = np.sin(np.pi * s) ** 3 * (0.65 + 0.35 * np.sin(s * 9.0 + ph[2]))
            m = np.interp(v, ROWS, mix_t)[:, None]
            colour = look.low + (look.high - look.low) * m
            out += colour * (inside * along * prof * weight)[:, None]
        return out * look.strength * (1.0 - 0.5 * look.mist)

    def _shade_curtains(self, look: _Look) -> None:
        cols = []
        s = np.linspace(0.0, 1.0, N_COLS)
        for *_, ph, weight in self._curtain_base:
            # Ends fade out; brightness varies gently along the curtain.
            # (the tone curve lifts faint light a lot, so the ends fade steeply).
            along = np.sin(np.pi * s) ** 3 * (0.65 + 0.35 * np.sin(s * 9.0 + ph[2]))
            mix = np.clip(ROWS / 0.55, 0.0, 1.0)[None, :, None]
            colour = look.low[None, None] + (look.high - look.low)[None, None] * mix
            light = (along[:, None] * PROFILE[None, :] * weight)[..., None]
            lin = colour * light * look.strength * (1.0 - 0.5 * look.mist)
            cols.append(lin.reshape(-1, 3))
        rgb = look.finish(np.concatenate(cols))
        write_colors(vertex_data(self._curtains), rgba(rgb))

    def update(self, dt: float, t: float) -> None:
        v = self._values
        motion = v.get("aurora_motion", 0.3)
        # Integrated phases: a change of speed bends the motion, never jumps it.
        self._fold += dt * (0.01 + 0.12 * motion)
        self._drift += dt * (0.02 + 0.35 * motion)
        self._breath_phase += dt * v.get("breathing_rate", 6.0) / 60.0
        if self._shaders:
            write_positions(
                vertex_data(self._curtains), self._curtain_positions(), self._curtain_uv
            )
            self._curtains.setShaderInput("u_drift", self._drift)
        else:
            # Repainting the sky costs a few ms: twice a second is plenty for
            # a motion this slow.
            self._repaint += dt
            if self._repaint >= 0.5:
                self._repaint = 0.0
                self._write_sky(self._look)
        self._update_orb(v.get("breathing_guide", 0.0))

    def _update_orb(self, guide: float) -> None:
        if guide <= 0.0:
            self._orb.hide()
            return
        self._orb.show()
        b = 0.5 - 0.5 * math.cos(2 * math.pi * self._breath_phase)
        # Inhale: the light grows and brightens; exhale: it settles; always visible.
        core, halo = 9.0 + 5.0 * b, 26.0 + 14.0 * b
        look = self._look
        col = look.finish(_linear((0.85, 0.95, 1.0))[None] * 2.5)[0]
        light = guide * (0.6 + 0.35 * b)
        rgb = np.array([col * light, col * light * 0.45])
        centre = np.repeat(np.array([GUIDE_POS]), 2, 0)
        write_positions(
            vertex_data(self._orb),
            billboards(centre, np.array([core, halo]), self._right, self._up),
            self._orb_uv,
        )
        write_colors(vertex_data(self._orb), rgba(np.repeat(rgb, 4, 0)))

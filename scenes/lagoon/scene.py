"""Lagoon at sunset: sky, sun, islands and water, all generated in code.

Look
----
A fixed viewpoint 2.5 m above a lagoon, facing a low sun between two wooded
islands, a hazy mountain range on the horizon and thin clouds. Everything is
procedural (no downloaded assets): the geometry comes from NumPy, the wave
and cloud noise from a seeded spectral synthesis, so every run looks the same.

Parameters (see ``scene.toml``)
-------------------------------
``fog_density``   Panda3D exponential fog, on a log scale of density so each
                  step of the parameter looks like the same amount of change.
``light_warmth``  Blends a cool dusk palette into a golden one (sky, sun, fog).
``water_calm``    Strength and speed of the wave normals: glittering chop to a
                  mirror that reflects the islands.
``sun_height``    Sun elevation, and with it the brightness of the scene.

Rendering paths
---------------
With GLSL (any OpenGL 3.2 driver, Mesa's llvmpipe included) the sky, water
and islands are shaded per pixel and the water reflects a mirrored render of
sky and islands. Without shaders (Panda3D's software ``p3tinydisplay``) the
same meshes are drawn with vertex colours computed by the same formulas in
NumPy, fixed-function fog and lights: plainer, but every parameter still acts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from panda3d.core import (
    AmbientLight,
    BitMask32,
    Camera,
    CardMaker,
    ColorBlendAttrib,
    DirectionalLight,
    Fog,
    LColor,
    LVector3,
    NodePath,
    Point3,
    SamplerState,
    Shader,
    Texture,
)

from neuroadapt.scene import Scene
from neuroadapt.scene.geometry import grid_triangles, mesh, rgba, write_colors

CAMERA_HEIGHT = 2.5  # m above the water: seated eye height on a jetty
CAMERA_PITCH = 2.0  # degrees up: horizon a little below the middle
CAMERA_FOV = 62.0  # horizontal degrees; narrow enough to stay calm
SUN_AZIMUTH = 7.0  # degrees right of straight ahead
SUN_ELEVATION = (1.2, 15.0)  # degrees at sun_height 0 and 1
SUN_RADIUS = 0.9  # angular radius of the disc, degrees (larger than life, as painted)
SKY_RADIUS = 20000.0
WATER_RADIUS = 16000.0
HAZE_HEIGHT = 60.0  # m: thickness of the fog layer seen when looking up
FOG_DENSITY = (1.2e-4, 9.6e-3)  # 1/m at fog_density 0 and 1 (log-interpolated)
REFLECTION_MASK = BitMask32.bit(4)
GUIDE_POS = (-9.0, 48.0, 1.4)  # the breathing light hovers low over the water
_LUMA = np.array([0.2126, 0.7152, 0.0722])

# Palettes in display (sRGB-like) colours, converted to linear light for shading.
# Rows: sun low / sun high; the warm and cool sets are blended by light_warmth.
_PALETTE = {
    "cool": {
        "zenith": ((0.10, 0.16, 0.36), (0.16, 0.30, 0.58)),
        "horizon": ((0.50, 0.58, 0.78), (0.62, 0.74, 0.90)),
        "sun": ((0.95, 0.93, 1.00), (1.00, 0.98, 0.95)),
        "fog": ((0.46, 0.52, 0.62), (0.60, 0.66, 0.76)),
        "water": ((0.03, 0.07, 0.12), (0.04, 0.10, 0.15)),
    },
    "warm": {
        "zenith": ((0.16, 0.14, 0.32), (0.20, 0.26, 0.50)),
        "horizon": ((1.00, 0.42, 0.16), (1.00, 0.62, 0.30)),
        "sun": ((1.00, 0.50, 0.20), (1.00, 0.72, 0.42)),
        "fog": ((0.72, 0.50, 0.42), (0.80, 0.66, 0.56)),
        "water": ((0.08, 0.06, 0.08), (0.06, 0.09, 0.12)),
    },
}


@dataclass(frozen=True)
class _Look:
    """Everything the parameters decide, in linear light."""

    sun_dir: np.ndarray  # (3,) unit vector toward the sun, world space
    sun_color: np.ndarray  # (3,)
    zenith: np.ndarray
    horizon: np.ndarray
    fog_color: np.ndarray
    water_color: np.ndarray
    fog_density: float  # 1/m, Panda3D exponential fog
    haze: float  # optical depth of the fog layer straight up
    exposure: float
    chop: float  # slope scale of the wave normals
    wave_speed: float  # relative speed of the wave pattern
    saturation: float  # 1 = natural colour; 0 grey


def _linear(rgb) -> np.ndarray:
    return np.asarray(rgb, dtype=float) ** 2.2


def _display(rgb: np.ndarray, exposure: float, saturation: float = 1.0) -> np.ndarray:
    """Tone-map linear light to display values in [0, 1] (the shaders do the same)."""
    c = (1.0 - np.exp(-np.maximum(rgb, 0.0) * exposure)) ** (1 / 2.2)
    if saturation == 1.0:
        return c
    y = (c @ _LUMA)[..., None]
    return np.clip(y + (c - y) * saturation, 0.0, 1.0)


def _saturation(value: float) -> float:
    """Saturation factor of the parameter: 0 almost grey, 0.5 natural (1.0), 1 vivid."""
    return 0.15 + 1.7 * value if value < 0.5 else 1.0 + 1.2 * (value - 0.5)


def _look(values: dict[str, float]) -> _Look:
    fog = values.get("fog_density", 0.6)
    warm = values.get("light_warmth", 0.5)
    calm = values.get("water_calm", 0.5)
    high = values.get("sun_height", 0.4)

    def colour(key: str) -> np.ndarray:
        mixes = []
        for tone in ("cool", "warm"):
            low_c, high_c = (_linear(c) for c in _PALETTE[tone][key])
            mixes.append(low_c + (high_c - low_c) * high)
        return mixes[0] + (mixes[1] - mixes[0]) * warm

    el = math.radians(SUN_ELEVATION[0] + (SUN_ELEVATION[1] - SUN_ELEVATION[0]) * high)
    az = math.radians(SUN_AZIMUTH)
    sun_dir = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
    # Log scale: fog looks linear in the log of density (each step thickens it alike).
    density = FOG_DENSITY[0] * (FOG_DENSITY[1] / FOG_DENSITY[0]) ** fog
    rough = 1.0 - calm
    return _Look(
        sun_dir=sun_dir,
        sun_color=colour("sun") * (1.2 + 0.8 * high),
        zenith=colour("zenith"),
        horizon=colour("horizon"),
        fog_color=colour("fog"),
        water_color=colour("water"),
        fog_density=density,
        haze=density * HAZE_HEIGHT,
        exposure=1.1 + 0.5 * high,
        # A trace of ripple even at calm 1 keeps the mirror alive; the power
        # spends most of the range on the gentle end, where relaxation happens.
        chop=0.012 + 0.5 * rough**1.4,
        wave_speed=0.35 + 0.9 * rough,
        # 0.5 is the look as designed; the curve keeps 1 vivid, not garish.
        saturation=_saturation(values.get("saturation", 0.5)),
    )


# --------------------------------------------------------------------------------------
# Shaders. One GLSL prelude defines the sky, haze and tone curve, so the sky
# dome, its reflection in the water and the fog on the islands all agree.

_PRELUDE = """
#version 150
uniform vec3 u_sun_dir;
uniform vec3 u_sun_color;
uniform vec3 u_zenith;
uniform vec3 u_horizon;
uniform vec3 u_fog_color;
uniform float u_haze;
uniform float u_exposure;
uniform float u_saturation;
uniform float u_sun_cos;
uniform vec2 u_cloud_offset;
uniform sampler2D u_noise;
uniform struct p3d_FogParameters { vec4 color; float density; } p3d_Fog;

vec3 tonemap(vec3 c) {
    vec3 t = pow(vec3(1.0) - exp(-max(c, vec3(0.0)) * u_exposure), vec3(1.0 / 2.2));
    float y = dot(t, vec3(0.2126, 0.7152, 0.0722));
    return clamp(mix(vec3(y), t, u_saturation), 0.0, 1.0);
}

vec3 untonemap(vec3 c) {
    // Inverse of tonemap, for colours read back from the reflection texture.
    c = min(pow(c, vec3(2.2)), vec3(0.999));
    return -log(vec3(1.0) - c) / u_exposure;
}

// Fog lit from behind by the sun: brighter toward it (forward scattering).
vec3 fog_color(vec3 d) {
    float mu = max(dot(d, u_sun_dir), 0.0);
    return u_fog_color + u_sun_color * (0.35 * pow(mu, 8.0) + 0.25 * pow(mu, 48.0));
}

vec3 sky(vec3 d, bool with_sun) {
    float e = clamp(d.z, 0.0, 1.0);
    float mu = dot(d, u_sun_dir);
    float m = max(mu, 0.0);
    // Warm band hugging the horizon, brightest toward the sun's azimuth.
    float toward = max(dot(d.xy, u_sun_dir.xy) / (length(d.xy) * length(u_sun_dir.xy) + 1e-4), 0.0);
    vec3 horizon = u_horizon * (0.75 + 0.35 * toward * toward);
    vec3 c = mix(horizon, u_zenith, 1.0 - exp(-e * 5.0));
    c += u_sun_color * (0.10 * pow(m, 4.0) + 0.35 * pow(m, 24.0) + 1.0 * pow(m, 300.0));
    if (with_sun) {
        c += u_sun_color * 6.0 * smoothstep(u_sun_cos - 0.00004, u_sun_cos + 0.00002, mu);
    }
    // Thin stratus streaks in a band above the horizon, lit gold near the sun.
    vec2 p = d.xy / (e + 0.05);
    float n = texture(u_noise, vec2(p.x * 0.045, p.y * 0.17) + u_cloud_offset).b;
    float band = smoothstep(0.015, 0.08, e) * (1.0 - smoothstep(0.22, 0.5, e));
    float cover = smoothstep(0.56, 0.78, n) * band * 0.85;
    vec3 cloud = mix(u_zenith * 0.9 + u_horizon * 0.25, u_sun_color * 1.1 + u_horizon * 0.3,
                     pow(m, 6.0));
    c = mix(c, cloud, cover);
    // Haze: optical depth grows as the ray flattens toward the horizon.
    float tr = exp(-u_haze / max(e, 0.015));
    return mix(fog_color(d), c, tr);
}

vec3 apply_fog(vec3 c, vec3 d, float dist) {
    return mix(fog_color(d), c, exp(-p3d_Fog.density * dist));
}
"""

_SKY_VERT = """
#version 150
uniform mat4 p3d_ModelViewProjectionMatrix;
in vec4 p3d_Vertex;
out vec3 v_dir;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
    v_dir = p3d_Vertex.xyz;  // the dome is centred on the viewer: position = direction
}
"""

_SKY_FRAG = """
in vec3 v_dir;
out vec4 p3d_FragColor;
void main() {
    p3d_FragColor = vec4(tonemap(sky(normalize(v_dir), true)), 1.0);
}
"""

_WATER_VERT = """
#version 150
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelMatrix;
in vec4 p3d_Vertex;
out vec3 v_world;
out vec4 v_clip;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
    v_world = (p3d_ModelMatrix * p3d_Vertex).xyz;
    v_clip = gl_Position;
}
"""

_WATER_FRAG = """
uniform sampler2D u_reflection;
uniform float u_use_reflection;
uniform vec3 u_camera_pos;
uniform vec3 u_water_color;
uniform float u_chop;
uniform float u_phase;
in vec3 v_world;
in vec4 v_clip;
out vec4 p3d_FragColor;

vec2 slope(vec2 uv) { return texture(u_noise, uv).rg * 2.0 - 1.0; }

void main() {
    vec3 to_eye = u_camera_pos - v_world;
    float dist = length(to_eye);
    vec3 v = -to_eye / dist;
    // Three octaves of tileable wave slopes drifting in different directions;
    // mipmapping flattens them with distance, as real water does.
    vec2 q = v_world.xy;
    vec2 g = 0.55 * slope(q * 0.045 + vec2(0.010, 0.016) * u_phase)
           + 0.35 * slope(q * 0.115 + vec2(-0.021, 0.009) * u_phase)
           + 0.45 * slope(q * 0.012 + vec2(0.003, -0.005) * u_phase);
    g *= u_chop;
    vec3 n = normalize(vec3(-g, 1.0));
    vec3 r = reflect(v, n);
    r.z = abs(r.z);  // a ray bounced into the water still sees sky, not nothing

    vec3 refl;
    if (u_use_reflection > 0.5) {
        vec2 screen = v_clip.xy / v_clip.w * 0.5 + 0.5;
        // Mirror camera image is upside down; ripples bend it, less far away.
        vec2 uv = vec2(screen.x, 1.0 - screen.y) + g * (0.35 / (1.0 + dist * 0.01));
        refl = untonemap(texture(u_reflection, clamp(uv, 0.001, 0.999)).rgb);
    } else {
        refl = sky(r, true);
    }
    float cos_v = max(dot(n, -v), 0.0);
    float fresnel = 0.02 + 0.98 * pow(1.0 - cos_v, 5.0);
    vec3 body = u_water_color * (0.4 + 0.3 * (u_horizon + u_zenith));
    vec3 c = mix(body, refl, fresnel);
    // Sun glitter: tight highlight of the sun in each rippled facet.
    float shin = mix(2500.0, 350.0, clamp(u_chop * 2.0, 0.0, 1.0));
    float sun_vis = exp(-u_haze / max(u_sun_dir.z, 0.015));
    c += u_sun_color * 3.0 * sun_vis * pow(max(dot(r, u_sun_dir), 0.0), shin);
    p3d_FragColor = vec4(tonemap(apply_fog(c, v, dist)), 1.0);
}
"""

_LAND_VERT = """
#version 150
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat4 p3d_ModelMatrix;
uniform mat3 p3d_NormalMatrix;
in vec4 p3d_Vertex;
in vec3 p3d_Normal;
in vec4 p3d_Color;
out vec3 v_world;
out vec3 v_view_pos;
out vec3 v_view_normal;
out vec3 v_color;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
    v_world = (p3d_ModelMatrix * p3d_Vertex).xyz;
    v_view_pos = (p3d_ModelViewMatrix * p3d_Vertex).xyz;
    v_view_normal = p3d_NormalMatrix * p3d_Normal;
    v_color = p3d_Color.rgb;
}
"""

_LAND_FRAG = """
uniform struct p3d_LightSourceParameters { vec4 color; vec4 position; } p3d_LightSource[1];
uniform struct p3d_LightModelParameters { vec4 ambient; } p3d_LightModel;
uniform vec3 u_camera_pos;
in vec3 v_world;
in vec3 v_view_pos;
in vec3 v_view_normal;
in vec3 v_color;
out vec4 p3d_FragColor;
void main() {
    vec3 albedo = pow(v_color, vec3(2.2));
    vec3 n = normalize(v_view_normal);
    vec3 l = normalize(p3d_LightSource[0].position.xyz);
    vec3 e = normalize(-v_view_pos);
    // Wrapped diffuse keeps the shadowed side readable; the rim catches the
    // backlight along ridges, as on a real sunset silhouette.
    float diffuse = max((dot(n, l) + 0.25) / 1.25, 0.0);
    float rim = pow(1.0 - max(dot(n, e), 0.0), 4.0) * max(dot(-e, l), 0.0);
    vec3 c = albedo * (p3d_LightModel.ambient.rgb + p3d_LightSource[0].color.rgb * diffuse)
           + p3d_LightSource[0].color.rgb * rim * 0.15;
    vec3 to_frag = v_world - u_camera_pos;
    float dist = length(to_frag);
    p3d_FragColor = vec4(tonemap(apply_fog(c, to_frag / dist, dist)), 1.0);
}
"""


# --------------------------------------------------------------------------------------
# Geometry and textures


def _vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = positions[triangles]
    face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    normals = np.zeros_like(positions)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-9)


def _noise_texture(size: int = 256, seed: int = 11, anisotropy: int = 8) -> Texture:
    """Tileable wave/cloud noise: R, G = wave slopes (x, y), B = height in [0, 1].

    Spectral synthesis: random phases under a power-law spectrum, biased
    along the wind (x), so the pattern tiles exactly and has no visible repeat
    at the scales the shaders use.
    """
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(size) * size
    kx, ky = np.meshgrid(k, k)
    kk = np.hypot(kx, ky)
    spectrum = np.where(kk > 0, (kk + 1.5) ** -2.0, 0.0) * np.exp(-((kk / 70.0) ** 2))
    spectrum *= 0.3 + 0.7 * (kx / np.maximum(kk, 1e-9)) ** 2
    coeff = spectrum * np.exp(2j * np.pi * rng.random(kk.shape))
    height = np.fft.ifft2(coeff).real
    sx = np.fft.ifft2(coeff * 1j * kx).real
    sy = np.fft.ifft2(coeff * 1j * ky).real
    scale = 3.0 * max(sx.std(), sy.std())
    rgb = np.stack(
        [
            0.5 + 0.5 * np.clip(sx / scale, -1, 1),
            0.5 + 0.5 * np.clip(sy / scale, -1, 1),
            0.5 + 0.5 * np.tanh(height / (1.2 * height.std())),
        ],
        axis=-1,
    )
    tex = Texture("lagoon-noise")
    tex.setup2dTexture(size, size, Texture.T_unsigned_byte, Texture.F_rgb8)
    tex.setRamImageAs(np.rint(rgb * 255).astype(np.uint8).tobytes(), "RGB")
    tex.setWrapU(SamplerState.WM_repeat)
    tex.setWrapV(SamplerState.WM_repeat)
    tex.setMinfilter(SamplerState.FT_linear_mipmap_linear)
    tex.setMagfilter(SamplerState.FT_linear)
    # Anisotropic filtering keeps grazing-angle waves crisp toward the horizon.
    tex.setAnisotropicDegree(anisotropy)
    return tex


def _ridge(x: np.ndarray, rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Smooth random profile in [-1, 1]-ish along ``x`` (sum of random sines)."""
    out = np.zeros_like(x)
    for i in range(octaves):
        freq = 2.0**i
        out += np.sin(x * freq + rng.uniform(0, 2 * np.pi)) / freq
    return out / 2.0


# --------------------------------------------------------------------------------------


class LagoonScene(Scene):
    """A lagoon at sunset whose fog, light, water and sun follow the manifest parameters."""

    def build(self) -> None:
        self._shaders = self.shaders_available
        gsg = self.win.getGsg() if self.win is not None else None
        renderer = gsg.getDriverRenderer().lower() if gsg is not None else ""
        # CPU rasterisers (Mesa llvmpipe on servers and in CI) pay per sample:
        # they get plain mipmapping and a half-size reflection.
        self._software = any(k in renderer for k in ("llvmpipe", "softpipe", "swrast"))
        self._phase = 0.0
        self._cloud = np.zeros(2)
        self._last_values: tuple | None = None
        self._reflection_buffer = None
        self._reflection_cam: NodePath | None = None

        lens = self.camera.node().getLens()
        lens.setFov(CAMERA_FOV)
        lens.setNearFar(0.5, SKY_RADIUS * 1.5)
        self.camera.setPos(0, 0, CAMERA_HEIGHT)
        self.camera.setHpr(0, CAMERA_PITCH, 0)

        self._sun = DirectionalLight("lagoon-sun")
        self._sun_np = self.root.attachNewNode(self._sun)
        self._ambient = AmbientLight("lagoon-sky-light")
        self._ambient_np = self.root.attachNewNode(self._ambient)
        self._fog = Fog("lagoon-fog")
        self.root.setFog(self._fog)

        self._sky = self._make_sky()
        self._land = self.root.attachNewNode("land")
        self._land_parts: list[tuple[NodePath, np.ndarray, np.ndarray, np.ndarray]] = []
        self._make_islands(self._land)
        if self._shaders:
            self._land.setLight(self._sun_np)
            self._land.setLight(self._ambient_np)
        else:
            # The software renderer's lights and fog are unreliable; the land
            # is lit and fogged per vertex in NumPy like the sky and water.
            self._land.setLightOff(1)
            self._land.setFogOff(1)
        self._water = self._make_water()

        if self._shaders:
            self._noise = _noise_texture(anisotropy=1 if self._software else 8)
            self.root.setShaderInput("u_noise", self._noise)
            self._sky.setShader(Shader.make(Shader.SL_GLSL, _SKY_VERT, _PRELUDE + _SKY_FRAG))
            self._land.setShader(Shader.make(Shader.SL_GLSL, _LAND_VERT, _PRELUDE + _LAND_FRAG))
            self._water.setShader(Shader.make(Shader.SL_GLSL, _WATER_VERT, _PRELUDE + _WATER_FRAG))
            self._setup_reflection()
        else:
            self._sun_disc = self._make_sun_disc()

        self._values = self.manifest.defaults()
        self._breath_phase = 0.0
        self._orb = self._make_breathing_guide()
        self.apply(self._values)
        self.update(0.0, 0.0)

    # -- building ---------------------------------------------------------------------------

    def _make_sky(self) -> NodePath:
        # Rings crowd toward the horizon, where the colour changes fastest, so
        # the vertex-coloured fallback stays smooth there.
        u = np.linspace(-1.0, 1.0, 49)
        elev = np.sign(u) * u**2 * (math.pi / 2)
        elev = elev[elev >= -0.35]
        az = np.linspace(0.0, 2 * math.pi, 97)[:-1]
        e, a = np.meshgrid(elev, az, indexing="ij")
        dirs = np.stack([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e)], -1)
        self._sky_dirs = dirs.reshape(-1, 3)
        # Azimuth runs clockwise seen from above, so the grid's triangles face inward.
        tris = grid_triangles(len(elev), len(az), wrap=True)
        sky = mesh(
            "sky",
            self._sky_dirs * SKY_RADIUS,
            tris,
            colors=np.ones((len(self._sky_dirs), 4)),
            dynamic=True,
        )
        sky.reparentTo(self.root)
        sky.setPos(0, 0, CAMERA_HEIGHT)
        # Drawn first and behind everything; fog and lights do not apply to sky.
        sky.setBin("background", 0)
        sky.setDepthWrite(False)
        sky.setLightOff(1)
        sky.setFogOff(1)
        return sky

    def _make_water(self) -> NodePath:
        # Polar grid around the viewer: dense near, sparse far, reaching past
        # the point where the horizon hides the edge (2.5 m / 16 km = 0.01 deg).
        radius = np.concatenate([[0.0], np.geomspace(1.0, WATER_RADIUS, 47)])
        az = np.linspace(0.0, 2 * math.pi, 97)[:-1]
        r, a = np.meshgrid(radius, az, indexing="ij")
        pos = np.stack([r * np.sin(a), r * np.cos(a), np.zeros_like(r)], -1).reshape(-1, 3)
        self._water_pos = pos
        tris = grid_triangles(len(radius), len(az), wrap=True)
        water = mesh(
            "water",
            pos,
            tris,
            normals=np.tile([0.0, 0.0, 1.0], (len(pos), 1)),
            colors=np.ones((len(pos), 4)),
            dynamic=True,
        )
        water.reparentTo(self.root)
        water.setLightOff(1)
        water.hide(REFLECTION_MASK)
        # Fixed pseudo-random phases for the fallback's slow shimmer.
        self._water_seed = np.random.default_rng(3).uniform(0, 2 * math.pi, len(pos))
        return water

    def _make_islands(self, parent: NodePath) -> None:
        rng = np.random.default_rng(20240607)
        # (x, y, half width, height, depth ratio): two wooded islands either
        # side of the sun and a third further right, all well out of reach.
        for i, (x, y, half, height, depth) in enumerate(
            [
                (-430.0, 950.0, 300.0, 42.0, 0.45),
                (300.0, 1450.0, 150.0, 24.0, 0.6),
                (1350.0, 2600.0, 520.0, 64.0, 0.35),
            ]
        ):
            rings, segs = 22, 72
            rr = np.linspace(0.0, 1.0, rings)
            aa = np.linspace(0.0, 2 * math.pi, segs + 1)[:-1]
            r, a = np.meshgrid(rr, aa, indexing="ij")
            wobble = 1.0 + 0.18 * _ridge(a, rng, 4)
            px = x + half * r * np.cos(a) * wobble
            py = y + half * depth * r * np.sin(a) * wobble
            # Hills from noise in ground coordinates (smooth through the centre),
            # plus a fine roughness that reads as forest canopy at this range.
            u, w = (px - x) / half, (py - y) / half
            hills = 1.0 + 0.45 * _ridge(u * 2.2 + 0.7 * w, rng, 3) * _ridge(w * 2.0 - u, rng, 2)
            canopy = 0.06 * _ridge(u * 25.0 + w * 9.0, rng, 3)
            pz = height * (np.clip(1.0 - r**2, 0.0, None) ** 0.9 * hills + canopy * (r < 0.95))
            pz = np.where(r >= 0.999, -1.5, pz)  # the shore dips under the water line
            pos = np.stack([px, py, pz], -1).reshape(-1, 3)
            tris = grid_triangles(rings, segs, wrap=True)[:, ::-1]
            tris = tris[_non_degenerate(pos, tris)]
            shade = (0.55 + 0.45 * np.clip(pz / height, 0, 1)).reshape(-1, 1)
            colors = np.hstack(
                [np.array([0.10, 0.12, 0.08]) * (0.7 + 0.3 * shade), np.ones((len(pos), 1))]
            )
            normals = _vertex_normals(pos, tris)
            island = mesh(
                f"island-{i}", pos, tris, normals=normals, colors=colors, dynamic=not self._shaders
            )
            island.reparentTo(parent)
            self._land_parts.append((island, pos, normals, colors))

        # A long mountain range on the horizon: a vertical curtain whose
        # silhouette is all that the haze ever lets one see of it.
        xs = np.linspace(-9000.0, 9000.0, 360)
        t = xs / 1400.0
        top = 90.0 + 70.0 * _ridge(t, rng, 6) + 60.0 * np.exp(-(((xs - 2500.0) / 2200.0) ** 2))
        ys = 5600.0 + 400.0 * _ridge(t * 0.5, rng, 3)
        pos = np.concatenate(
            [np.stack([xs, ys, np.full_like(xs, -5.0)], -1), np.stack([xs, ys, top], -1)]
        )
        n = len(xs)
        idx = np.arange(n - 1)
        tris = np.concatenate(
            [np.stack([idx, idx + 1, idx + n + 1], -1), np.stack([idx, idx + n + 1, idx + n], -1)]
        )
        normals = np.tile([0.0, -0.8, 0.6], (2 * n, 1))
        colors = np.tile([0.30, 0.31, 0.36, 1.0], (2 * n, 1))
        ridge = mesh(
            "mountains", pos, tris, normals=normals, colors=colors, dynamic=not self._shaders
        )
        ridge.reparentTo(parent)
        ridge.setTwoSided(True)
        self._land_parts.append((ridge, pos, normals, colors))

    def _make_sun_disc(self) -> NodePath:
        """Fallback sun: a flat disc on the sky (the shader sky draws its own)."""
        segs = 32
        ang = np.linspace(0, 2 * math.pi, segs + 1)[:-1]
        rad = math.tan(math.radians(SUN_RADIUS)) * SKY_RADIUS * 0.9
        pos = np.vstack(
            [[0.0, 0.0, 0.0], np.stack([rad * np.cos(ang), np.zeros(segs), rad * np.sin(ang)], -1)]
        )
        tris = np.stack(
            [np.zeros(segs, int), 1 + (np.arange(segs) + 1) % segs, 1 + np.arange(segs)], -1
        )
        disc = mesh("sun-disc", pos, tris, colors=np.ones((segs + 1, 4)))
        disc.reparentTo(self.root)
        disc.setBin("background", 1)
        disc.setDepthWrite(False)
        disc.setLightOff(1)
        disc.setFogOff(1)
        disc.setAttrib(ColorBlendAttrib.make(ColorBlendAttrib.M_add))
        return disc

    def _make_breathing_guide(self) -> NodePath:
        """A soft light over the water; :meth:`_update_guide` sizes and lights it."""
        size = 64
        x = np.linspace(-1.0, 1.0, size)
        r2 = x[None, :] ** 2 + x[:, None] ** 2
        g = (np.exp(-r2 * 5.0) * 0.75 + np.exp(-r2 * 40.0) * 0.25) * np.clip(1.0 - r2, 0, 1)
        tex = Texture("lagoon-glow")
        tex.setup2dTexture(size, size, Texture.T_unsigned_byte, Texture.F_rgb8)
        tex.setRamImageAs(
            np.repeat(np.rint(g * 255).astype(np.uint8)[..., None], 3, axis=-1).tobytes(), "RGB"
        )
        tex.setWrapU(SamplerState.WM_clamp)
        tex.setWrapV(SamplerState.WM_clamp)
        # Two camera-facing cards (core and halo), unit size; scaled per frame.
        orb = self.root.attachNewNode("breathing-guide")
        self._orb_parts = []
        for name in ("core", "halo"):
            card = CardMaker(f"breathing-{name}")
            card.setFrame(-1.0, 1.0, -1.0, 1.0)
            part = orb.attachNewNode(card.generate())
            part.hide(REFLECTION_MASK)
            self._orb_parts.append(part)
        orb.setTexture(tex)
        orb.setPos(*GUIDE_POS)
        orb.setBillboardPointEye()
        orb.setLightOff(2)
        orb.setFogOff(2)
        orb.setShaderOff(2)
        orb.setDepthWrite(False)
        orb.setBin("fixed", 30)
        orb.setAttrib(
            ColorBlendAttrib.make(
                ColorBlendAttrib.M_add, ColorBlendAttrib.O_one, ColorBlendAttrib.O_one
            )
        )
        orb.hide()
        return orb

    def _update_guide(self, dt: float) -> None:
        guide = self._values.get("breathing_guide", 0.0)
        self._breath_phase += dt * self._values.get("breathing_rate", 6.0) / 60.0
        if guide <= 0.0:
            self._orb.hide()
            return
        self._orb.show()
        # A 6/min sine: inhale grows and brightens the light, exhale settles it.
        b = 0.5 - 0.5 * math.cos(2.0 * math.pi * self._breath_phase)
        core, halo = self._orb_parts
        core.setScale(0.9 + 0.45 * b)
        halo.setScale(2.8 + 1.4 * b)
        light = guide * (0.55 + 0.3 * b)
        colour = _display(np.array([1.0, 0.85, 0.65]) * 2.5, 1.3)
        core.setColorScale(*(colour * light), 1.0)
        halo.setColorScale(*(colour * light * 0.45), 1.0)

    def _setup_reflection(self) -> None:
        """Render sky and islands from a camera mirrored in the water plane."""
        win = self.win
        # The window size rounded to powers of two: a non-power-of-two buffer
        # may be padded inside a larger texture, which the shader would then
        # have to rescale. Less than that shows stair steps along the
        # islands' mirror images on calm water, a fair price on a CPU renderer.
        shrink = 2 if self._software else 1
        width = 2 ** min(11, max(6, round(math.log2(max(win.getXSize() // shrink, 2)))))
        height = 2 ** min(11, max(5, round(math.log2(max(win.getYSize() // shrink, 2)))))
        tex = Texture("lagoon-reflection")
        buffer = win.makeTextureBuffer("lagoon-reflection", width, height, tex)
        if buffer is None:  # no render-to-texture: the water reflects the sky alone
            self.root.setShaderInput("u_reflection", tex)
            self.root.setShaderInput("u_use_reflection", 0.0)
            return
        buffer.setClearColor(LColor(0, 0, 0, 1))
        tex.setWrapU(SamplerState.WM_clamp)
        tex.setWrapV(SamplerState.WM_clamp)
        tex.setMinfilter(SamplerState.FT_linear)
        # Sharing the lens keeps both cameras in step when the window is resized.
        cam = Camera("lagoon-reflection-camera", self.camera.node().getLens())
        cam.setCameraMask(REFLECTION_MASK)
        cam.setScene(self.render)
        self._reflection_cam = self.render.attachNewNode(cam)
        region = buffer.makeDisplayRegion()
        region.setCamera(self._reflection_cam)
        self._reflection_buffer = buffer
        self.root.setShaderInput("u_reflection", tex)
        self.root.setShaderInput("u_use_reflection", 1.0)

    # -- per frame ------------------------------------------------------------------------

    def apply(self, values: dict[str, float]) -> None:
        self._values = values
        key = tuple(round(values.get(n, 0.0), 6) for n in self.manifest.names)
        if key == self._last_values:
            return  # nothing moved: the usual case once the scene has settled
        self._last_values = key
        look = _look(values)
        self._look_now = look
        exposure = look.exposure
        fog_display = _display(look.fog_color, exposure, look.saturation)
        self._fog.setColor(*fog_display)
        self._fog.setExpDensity(look.fog_density)
        sun_dir = LVector3(*look.sun_dir)
        self._sun_np.lookAt(Point3(*(-look.sun_dir)))
        self._sun.setColor(LColor(*(look.sun_color * 0.35), 1))
        self._ambient.setColor(LColor(*(0.25 * look.horizon + 0.3 * look.zenith), 1))
        if self.win is not None:
            self.win.setClearColor(LColor(*fog_display, 1))
        if self._shaders:
            root = self.root
            root.setShaderInput("u_sun_dir", sun_dir)
            root.setShaderInput("u_sun_color", LVector3(*look.sun_color))
            root.setShaderInput("u_zenith", LVector3(*look.zenith))
            root.setShaderInput("u_horizon", LVector3(*look.horizon))
            root.setShaderInput("u_fog_color", LVector3(*look.fog_color))
            root.setShaderInput("u_water_color", LVector3(*look.water_color))
            root.setShaderInput("u_haze", look.haze)
            root.setShaderInput("u_exposure", exposure)
            root.setShaderInput("u_saturation", look.saturation)
            root.setShaderInput("u_sun_cos", math.cos(math.radians(SUN_RADIUS)))
            root.setShaderInput("u_chop", look.chop)
        else:
            sky = _sky_numpy(self._sky_dirs, look)
            write_colors(
                self._sky.node().modifyGeom(0).modifyVertexData(),
                rgba(_display(sky, exposure, look.saturation)),
            )
            disc = _display(look.sun_color * 4.0, exposure, look.saturation)
            write_colors(
                self._sun_disc.node().modifyGeom(0).modifyVertexData(),
                rgba(
                    np.tile(
                        disc, (self._sun_disc.node().getGeom(0).getVertexData().getNumRows(), 1)
                    )
                ),
            )
            self._sun_disc.setPos(
                Point3(*(look.sun_dir * SKY_RADIUS * 0.9)) + Point3(0, 0, CAMERA_HEIGHT)
            )
            self._sun_disc.lookAt(self.camera)
            self._shade_land_fallback(look)

    def update(self, dt: float, t: float) -> None:
        self._update_guide(dt)
        look = self._look_now
        # Integrate the wave phase: a speed change then bends the motion
        # smoothly instead of jumping the pattern to speed * t.
        self._phase += dt * look.wave_speed
        self._cloud += dt * np.array([0.0015, 0.0004])
        cam_pos = self.camera.getPos(self.render)
        if self._shaders:
            self.root.setShaderInput("u_phase", self._phase)
            self.root.setShaderInput("u_cloud_offset", float(self._cloud[0]), float(self._cloud[1]))
            self.root.setShaderInput("u_camera_pos", cam_pos)
            if self._reflection_cam is not None:
                self._mirror_camera()
        else:
            self._shade_water_fallback(look, cam_pos)

    def _mirror_camera(self) -> None:
        # The mirror image of the camera in the plane z = 0 is improper (a
        # reflection); the proper camera with the mirrored forward and the
        # negated mirrored up sees the same picture upside down, which the
        # water shader undoes when it samples.
        quat = self.camera.getQuat(self.render)
        pos = self.camera.getPos(self.render)
        fwd, up = quat.getForward(), quat.getUp()
        mpos = Point3(pos.x, pos.y, -pos.z)
        self._reflection_cam.setPos(mpos)
        self._reflection_cam.lookAt(
            mpos + LVector3(fwd.x, fwd.y, -fwd.z), LVector3(-up.x, -up.y, up.z)
        )

    def _shade_water_fallback(self, look: _Look, cam_pos) -> None:
        pos = self._water_pos
        to = pos - np.array([cam_pos.x, cam_pos.y, cam_pos.z])
        dist = np.linalg.norm(to, axis=1)
        v = to / dist[:, None]
        r = v * np.array([1.0, 1.0, -1.0])
        cos_v = np.clip(-v[:, 2], 0.0, 1.0)
        fresnel = 0.02 + 0.98 * (1.0 - cos_v) ** 5
        body = look.water_color * (0.4 + 0.3 * (look.horizon + look.zenith))
        c = body + (_sky_numpy(r, look) - body) * fresnel[:, None]
        # Slow shimmer whose depth follows the chop; its 0.2-0.5 Hz stays far
        # below the flicker band even where it is strongest.
        shimmer = np.sin(self._phase * 2.0 + self._water_seed + pos[:, 0] * 0.05)
        c *= (1.0 + 0.6 * look.chop * shimmer)[:, None]
        fog = _fog_numpy(v, look)
        c = fog + (c - fog) * np.exp(-look.fog_density * dist)[:, None]
        write_colors(
            self._water.node().modifyGeom(0).modifyVertexData(),
            rgba(_display(c, look.exposure, look.saturation)),
        )

    def _shade_land_fallback(self, look: _Look) -> None:
        cam = self.camera.getPos(self.render)
        eye = np.array([cam.x, cam.y, cam.z])
        sun = look.sun_color * 0.35
        ambient = 0.25 * look.horizon + 0.3 * look.zenith
        for node, pos, normals, colors in self._land_parts:
            albedo = colors[:, :3] ** 2.2
            diffuse = np.clip((normals @ look.sun_dir + 0.25) / 1.25, 0.0, None)[:, None]
            c = albedo * (ambient + sun * diffuse)
            to = pos - eye
            dist = np.linalg.norm(to, axis=1)
            fog = _fog_numpy(to / dist[:, None], look)
            c = fog + (c - fog) * np.exp(-look.fog_density * dist)[:, None]
            write_colors(
                node.node().modifyGeom(0).modifyVertexData(),
                rgba(_display(c, look.exposure, look.saturation)),
            )

    def destroy(self) -> None:
        if self._reflection_buffer is not None:
            self._reflection_buffer.getEngine().removeWindow(self._reflection_buffer)
            self._reflection_buffer = None
        if self._reflection_cam is not None:
            self._reflection_cam.removeNode()
            self._reflection_cam = None
        super().destroy()


def _sky_numpy(dirs: np.ndarray, look: _Look) -> np.ndarray:
    """The shader's ``sky()`` without clouds, for vertex colours.

    Parameters
    ----------
    dirs : array of shape (n, 3)
        Unit view directions.

    Returns
    -------
    rgb : array of shape (n, 3)
        Linear light.
    """
    e = np.clip(dirs[:, 2], 0.0, 1.0)
    mu = dirs @ look.sun_dir
    m = np.maximum(mu, 0.0)
    sun_xy = look.sun_dir[:2]
    toward = np.maximum(
        dirs[:, :2]
        @ sun_xy
        / (np.linalg.norm(dirs[:, :2], axis=1) * np.linalg.norm(sun_xy) + 1e-4),
        0.0,
    )
    horizon = look.horizon * (0.75 + 0.35 * toward**2)[:, None]
    c = horizon + (look.zenith - horizon) * (1.0 - np.exp(-e * 5.0))[:, None]
    c = c + look.sun_color * (0.10 * m**4 + 0.35 * m**24 + 1.0 * m**300)[:, None]
    fog = _fog_numpy(dirs, look)
    tr = np.exp(-look.haze / np.maximum(e, 0.015))[:, None]
    return fog + (c - fog) * tr


def _fog_numpy(dirs: np.ndarray, look: _Look) -> np.ndarray:
    """The shader's ``fog_color()``: fog brighter toward the sun, shape (n, 3)."""
    m = np.maximum(dirs @ look.sun_dir, 0.0)
    return look.fog_color + look.sun_color * (0.35 * m**8 + 0.25 * m**48)[:, None]


def _non_degenerate(pos: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Mask of triangles that are not degenerate (the island's centre is a fan)."""
    p = pos[tris]
    area = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    return area > 1e-9

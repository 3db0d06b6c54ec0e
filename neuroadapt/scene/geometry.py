"""Small building blocks shared by the procedural scenes.

NumPy arrays in, Panda3D geometry out: triangle meshes with optional UVs and
vertex colours, soft glow and light-beam textures, camera-facing billboards and
additive blending. Scenes import these instead of each keeping a copy.
"""

from __future__ import annotations

import math

import numpy as np
from panda3d.core import (
    ColorBlendAttrib,
    Geom,
    GeomEnums,
    GeomNode,
    GeomTriangles,
    GeomVertexArrayFormat,
    GeomVertexData,
    GeomVertexFormat,
    InternalName,
    NodePath,
    OmniBoundingVolume,
    SamplerState,
    Texture,
    TransparencyAttrib,
)


def mesh(
    name: str,
    pos: np.ndarray,
    tris: np.ndarray,
    *,
    uv: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    dynamic: bool = False,
) -> NodePath:
    """A GeomNode from NumPy arrays (one copy into Panda3D, no per-vertex Python).

    Parameters
    ----------
    name : str
        Name of the node.
    pos : array of shape (n_vertices, 3)
        Vertex positions; array 0 with ``normals`` and ``uv`` when given.
    tris : array of shape (n_triangles, 3)
        Counter-clockwise vertex indices seen from the front.
    uv : array of shape (n_vertices, 2), optional
        Texture coordinates.
    normals : array of shape (n_vertices, 3), optional
        Vertex normals (for lighting).
    colors : array of shape (n_vertices, 4), optional
        RGBA in 0..1 (white when not given), in array 1 as RGBA8 so they can be
        rewritten every frame (:func:`write_colors`).
    dynamic : bool
        The vertex data will be rewritten often (positions or colours).
    """
    main = GeomVertexArrayFormat()
    main.addColumn(InternalName.getVertex(), 3, Geom.NT_float32, Geom.C_point)
    if normals is not None:
        main.addColumn(InternalName.getNormal(), 3, Geom.NT_float32, Geom.C_normal)
    if uv is not None:
        main.addColumn(InternalName.getTexcoord(), 2, Geom.NT_float32, Geom.C_texcoord)
    col = GeomVertexArrayFormat()
    col.addColumn(InternalName.getColor(), 4, Geom.NT_uint8, Geom.C_color)
    fmt = GeomVertexFormat()
    fmt.addArray(main)
    fmt.addArray(col)
    fmt = GeomVertexFormat.registerFormat(fmt)
    vdata = GeomVertexData(name, fmt, Geom.UH_dynamic if dynamic else Geom.UH_static)
    vdata.uncleanSetNumRows(len(pos))
    columns = [c for c in (pos, normals, uv) if c is not None]
    vdata.modifyArrayHandle(0).copyDataFrom(
        np.ascontiguousarray(np.hstack(columns), dtype=np.float32)
    )
    write_colors(vdata, np.ones((len(pos), 4)) if colors is None else colors)
    prim = GeomTriangles(Geom.UH_static)
    prim.setIndexType(GeomEnums.NT_uint32)
    index = prim.modifyVertices()
    index.uncleanSetNumRows(tris.size)
    index.modifyHandle().copyDataFrom(np.ascontiguousarray(tris, dtype=np.uint32))
    geom = Geom(vdata)
    geom.addPrimitive(prim)
    node = GeomNode(name)
    node.addGeom(geom)
    # Geometry moves a little (sway, drift) or surrounds the viewer (sky, water):
    # never let culling judge it by stale bounds.
    node.setBounds(OmniBoundingVolume())
    node.setFinal(True)
    return NodePath(node)


def vertex_data(np_node: NodePath) -> GeomVertexData:
    """The modifiable vertex data of a node made by :func:`mesh`."""
    return np_node.node().modifyGeom(0).modifyVertexData()


def write_positions(vdata: GeomVertexData, pos: np.ndarray, uv: np.ndarray | None = None):
    """Overwrite positions (n, 3) and, when given, texture coordinates (n, 2).

    For meshes made without normals (array 0 holds positions and uv only).
    """
    cols = [pos] if uv is None else [pos, uv]
    vdata.modifyArrayHandle(0).copyDataFrom(np.ascontiguousarray(np.hstack(cols), dtype=np.float32))


def write_colors(vdata: GeomVertexData, rgba: np.ndarray) -> None:
    """Overwrite vertex colours from an (n, 4) array in 0..1."""
    out = np.clip(np.rint(np.asarray(rgba) * 255.0), 0, 255).astype(np.uint8)
    vdata.modifyArrayHandle(1).copyDataFrom(np.ascontiguousarray(out))


def rgba(rgb: np.ndarray, alpha: float | np.ndarray = 1.0) -> np.ndarray:
    """Append an alpha column (a scalar or one value per row) to (n, 3) colours."""
    a = np.broadcast_to(
        np.asarray(alpha, float).reshape(-1, 1) if np.ndim(alpha) else alpha, (len(rgb), 1)
    )
    return np.hstack([rgb, a])


def grid_triangles(rows: int, cols: int, *, wrap: bool = False) -> np.ndarray:
    """Triangle indices (n, 3) of a rows x cols vertex grid; ``wrap`` closes it around."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols if wrap else cols - 1), indexing="ij")
    a = r * cols + c
    b = r * cols + (c + 1) % cols
    return np.stack(
        [np.stack([a, b, b + cols], -1), np.stack([a, b + cols, a + cols], -1)], -2
    ).reshape(-1, 3)


def glow_texture(size: int = 64) -> Texture:
    """Soft round glow (grey, premultiplied) for additive billboards."""
    x = np.linspace(-1.0, 1.0, size)
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    g = np.exp(-r2 * 5.0) * 0.75 + np.exp(-r2 * 40.0) * 0.25
    g *= np.clip(1.0 - r2, 0.0, 1.0)
    img = np.repeat(np.rint(g * 255).astype(np.uint8)[..., None], 3, axis=-1)
    tex = Texture("glow")
    tex.setup2dTexture(size, size, Texture.T_unsigned_byte, Texture.F_rgb8)
    tex.setRamImageAs(img.tobytes(), "RGB")
    tex.setWrapU(SamplerState.WM_clamp)
    tex.setWrapV(SamplerState.WM_clamp)
    tex.setMinfilter(SamplerState.FT_linear)
    tex.setMagfilter(SamplerState.FT_linear)
    return tex


def beam_texture(width: int = 64) -> Texture:
    """Soft-edged beam profile across u (grey, premultiplied), constant along v."""
    x = np.linspace(-1.0, 1.0, width)
    g = np.cos(np.clip(x, -1, 1) * math.pi / 2) ** 2
    img = np.repeat(np.rint(np.tile(g, (4, 1)) * 255).astype(np.uint8)[..., None], 3, axis=-1)
    tex = Texture("beam")
    tex.setup2dTexture(width, 4, Texture.T_unsigned_byte, Texture.F_rgb8)
    tex.setRamImageAs(img.tobytes(), "RGB")
    tex.setWrapU(SamplerState.WM_clamp)
    tex.setWrapV(SamplerState.WM_clamp)
    tex.setMinfilter(SamplerState.FT_linear)
    tex.setMagfilter(SamplerState.FT_linear)
    return tex


def quads(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangles and texcoords for ``n`` independent quads (4 vertices each)."""
    base = np.arange(n)[:, None] * 4
    tris = np.concatenate([base + np.array([0, 1, 2]), base + np.array([0, 2, 3])], axis=1).reshape(
        -1, 3
    )
    uv = np.tile([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], (n, 1))
    return tris, uv


def billboards(
    centres: np.ndarray, sizes: np.ndarray, right: np.ndarray, up: np.ndarray
) -> np.ndarray:
    """Corners of camera-facing quads, shape (4 n, 3)."""
    r = right[None, :] * sizes[:, None]
    u = up[None, :] * sizes[:, None]
    corners = np.stack([centres - r - u, centres + r - u, centres + r + u, centres - r + u], 1)
    return corners.reshape(-1, 3)


def additive(np_node: NodePath, sort: int) -> None:
    np_node.setAttrib(
        ColorBlendAttrib.make(
            ColorBlendAttrib.M_add, ColorBlendAttrib.O_one, ColorBlendAttrib.O_one
        )
    )
    np_node.setTransparency(TransparencyAttrib.M_none)
    np_node.setDepthWrite(False)
    np_node.setBin("fixed", sort)
    np_node.setTwoSided(True)

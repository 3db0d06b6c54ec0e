"""Outputs: side-by-side stereo and the therapist's mirror rendered offscreen; VR errors.

Each render runs in its own process (one ShowBase per process) and sends back
the captured frames as ``.npy`` files.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

LUMA = np.array([0.2126, 0.7152, 0.0722])
SCENE_CMD = [sys.executable, "-m", "neuroadapt.scene.cli"]

RENDER = textwrap.dedent("""
    import sys
    import numpy as np
    from neuroadapt.scene.app import SceneApp

    output, out = sys.argv[1], sys.argv[2]
    app = SceneApp("lagoon", headless=True, control=None, size=(480, 270), output=output,
                   mirror=True, frame_dt=1 / 60, set_values={"fog_density": 0.3})
    app.run(frames=3, close=False)  # the water's reflection pass shows a frame late
    np.save(out + "_main.npy", app.capture("main"))
    np.save(out + "_mirror.npy", app.capture("mirror"))
    app.close()
""")


def render(tmp_path, output: str) -> tuple[np.ndarray, np.ndarray]:
    base = tmp_path / output
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, output, str(base)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return np.load(f"{base}_main.npy"), np.load(f"{base}_mirror.npy")


@pytest.mark.render
@pytest.mark.timeout(120)
def test_stereo_halves_show_the_scene_from_two_eyes_and_the_mirror_shows_the_left(tmp_path):
    main, mirror = render(tmp_path, "stereo")
    assert main.shape == (270, 480, 3) and mirror.shape == (270, 240, 3)
    left, right = main[:, :240], main[:, 240:]
    for half in (left, right):
        lum = half @ LUMA
        assert 0.2 < lum.mean() < 0.9 and lum.std() > 0.05  # each eye sees the scene
    # Same scene, slightly different viewpoints: alike overall, not identical.
    # Measured: mean |left - right| 0.0025, luminance means within 0.0001.
    diff = np.abs(left - right).mean()
    assert 0.001 < diff < 0.05, diff
    assert abs((left @ LUMA).mean() - (right @ LUMA).mean()) < 0.02
    # The eyes 6.4 cm apart: the far sky is the same in both (best match at no
    # shift, measured error 0.000), the near water is seen shifted (measured:
    # best match 1 px over, error 0.0039 against 0.0057 unshifted).
    lum_l, lum_r = left @ LUMA, right @ LUMA

    def best_shift(rows: slice) -> tuple[int, dict]:
        errors = {
            s: np.abs(lum_l[rows, 20 + s : 220 + s] - lum_r[rows, 20:220]).mean()
            for s in range(-8, 9)
        }
        return min(errors, key=errors.get), errors

    far, errors_far = best_shift(slice(0, 120))
    near, errors_near = best_shift(slice(150, 270))
    assert far == 0 and errors_far[0] < 0.002, errors_far
    assert near > 0 and errors_near[near] < 0.9 * errors_near[0], errors_near
    # The mirror shows the left eye (same camera, same size): measured identical.
    assert np.abs(mirror - left).mean() < 0.01, np.abs(mirror - left).mean()


@pytest.mark.render
@pytest.mark.timeout(120)
def test_offscreen_mirror_shows_the_patients_picture(tmp_path):
    main, mirror = render(tmp_path, "offscreen")
    assert main.shape == mirror.shape == (270, 480, 3)
    assert (main @ LUMA).std() > 0.05
    assert np.abs(mirror - main).mean() < 0.01, np.abs(mirror - main).mean()


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [*SCENE_CMD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_vr_without_panda3d_openxr_is_one_clear_line(tmp_path):
    # An empty module path first: whatever is installed, p3dopenxr is not found.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "p3dopenxr.py").write_text("raise ImportError('blocked')\n")
    try:
        import p3dopenxr  # noqa: F401

        installed = True
    except ImportError:
        installed = False
    if installed:
        pytest.skip("panda3d-openxr is installed here")
    proc = run_cli("lagoon", "--output", "vr", "--control", "none")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "neuroadapt: error: --output vr: panda3d-openxr is not installed; install neuroadapt[vr]"
    ]


FAKE_OPENXR = {
    # pyopenxr and panda3d-openxr as installed on a machine with no OpenXR
    # runtime: the loader raises while creating the instance.
    "xr/__init__.py": "class RuntimeUnavailableError(Exception):\n    pass\n",
    "p3dopenxr/__init__.py": "",
    "p3dopenxr/p3dopenxr.py": textwrap.dedent("""
        import xr

        class P3DOpenXR:
            def __init__(self, base=None):
                self.base = base

            def init(self, root=None, **kwargs):
                raise xr.RuntimeUnavailableError(
                    "xrCreateInstance: XR_ERROR_RUNTIME_UNAVAILABLE\\n(loader details)")

            def destroy(self):
                pass
    """),
}


@pytest.fixture
def x_display():
    """A virtual X display of this test's own, as ``:N``; stopped at the end.

    Xvfb is started directly (``-displayfd`` tells which display it took)
    rather than through ``xvfb-run``, whose own clean-up can fail and replace
    the exit status of the program it ran.
    """
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 30)
        number = os.read(read_fd, 32).decode().strip() if ready else ""
        if not number:
            server.kill()
            pytest.fail(
                "Xvfb did not report a display within 30 s: "
                + server.communicate(timeout=10)[1].decode()[-500:]
            )
        yield f":{number}"
    finally:
        os.close(read_fd)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.mark.render
@pytest.mark.timeout(120)
def test_vr_without_an_openxr_runtime_is_one_clear_line(tmp_path, x_display):
    for rel, text in FAKE_OPENXR.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # A headset needs a desktop window for its GL context: a virtual X display here.
    env = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "NEUROADAPT_HEADLESS": "0",
        "DISPLAY": x_display,
    }
    proc = subprocess.run(
        [*SCENE_CMD, "lagoon", "--output", "vr", "--control", "none"],
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, **env},
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("neuroadapt: error:")]
    assert errors == [
        "neuroadapt: error: --output vr: no OpenXR runtime found (xrCreateInstance: "
        "XR_ERROR_RUNTIME_UNAVAILABLE); start the headset's runtime (SteamVR, Monado, Meta) "
        "or use --output stereo"
    ], proc.stderr[-2000:]

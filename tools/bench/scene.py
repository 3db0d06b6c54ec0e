"""Scene speed: the app's own per-frame work, and the frame time offscreen, per scene.

For every scene on the search path (``neuroadapt.scene.manifest.list_scenes()``)
one process renders it offscreen, frame-stepped (no frame-rate cap), while a
control message with new random targets for every parameter arrives before
each frame (a real zmq publisher, in process). It reports

- controller work: CPU time (of the render thread, so a core lent to the
  software renderer's own threads does not count) of the app's Python side of
  a frame: drain the bus, apply the messages, ``SceneController.step``, camera
  guard, output rig, LSL push; p50 / p99 in µs; budget 1 ms a frame (PASS / FAIL);
- frame time: wall time of a whole frame (scene ``apply`` / ``update`` and
  the render), p50 / p95 in ms.

Usage: python tools/bench/scene.py [--frames 120] [--size 640x360] [--output offscreen]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from neuroadapt.lsl import use_machine_scope  # noqa: E402
from neuroadapt.scene.manifest import list_scenes  # noqa: E402

use_machine_scope()

BUDGET_US = 1000.0

WORKER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from neuroadapt.bus import Publisher
    from neuroadapt.scene.app import SceneApp

    name, frames, w, h, output = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
        int(sys.argv[4]), sys.argv[5]
    pub = Publisher("inproc://bench")
    app = SceneApp(name, headless=True, control="inproc://bench", size=(w, h),
                   output=output, frame_dt=1 / 60)
    m = app.manifest
    rng = np.random.default_rng(0)
    app.run(frames=10, close=False)  # warm up: shaders compiled, buffers made
    control, frame = [], []
    for _ in range(frames):
        pub.publish("control", {"params": {p.name: float(rng.uniform(p.low, p.high))
                                           for p in m}, "hold": False, "feedback": True})
        t0 = time.perf_counter()
        app.run(frames=1, close=False)
        frame.append(time.perf_counter() - t0)
        control.append(app.control_time_s)
    renderer = app._base.win.getGsg().getDriverRenderer()
    app.close()
    print("RESULT " + json.dumps({"control": control, "frame": frame, "renderer": renderer}))
""")


def bench_scene(name: str, frames: int, size: tuple[int, int], output: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, name, str(frames), str(size[0]), str(size[1]), output],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return json.loads(line[7:])


def main() -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--output", default="offscreen", choices=("offscreen", "stereo"))
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rows, ok, renderer = [], True, "?"
    for name in list_scenes():
        res = bench_scene(name, args.frames, size, args.output)
        if "error" in res:
            rows.append(f"| {name} | error: {res['error']} | | | | |")
            ok = False
            continue
        renderer = res["renderer"]
        c = np.asarray(res["control"]) * 1e6
        f = np.asarray(res["frame"]) * 1e3
        p99 = np.percentile(c, 99)
        verdict = "PASS" if p99 < BUDGET_US else "FAIL"
        ok &= verdict == "PASS"
        rows.append(
            f"| {name} | {np.percentile(c, 50):.0f} | {p99:.0f} | {verdict} "
            f"| {np.percentile(f, 50):.1f} | {np.percentile(f, 95):.1f} |"
        )
    print(
        f"Scenes, {args.output} {size[0]}x{size[1]}, {args.frames} frames, {renderer}; "
        f"a control message with new targets before every frame.\n"
    )
    print(
        "| scene | controller p50 µs | controller p99 µs | < 1 ms | frame p50 ms | frame p95 ms |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\n{'PASS' if ok else 'FAIL'}: controller work under {BUDGET_US:.0f} µs a frame "
        "(p99) for every scene"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

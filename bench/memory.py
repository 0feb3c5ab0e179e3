"""Peak RSS of the gateway for hostile uploads, before and after the memory budgets (issue 10, 3).

Runs a real ``footage-gateway serve`` twice on the same config: once from a
reference source tree (``--before-rev``, checked out with ``git worktree``;
default: the commit before the budgets) and once from this tree. For each
upload it resets the server's peak RSS (``/proc/PID/clear_refs``), posts the
upload, and reads ``VmHWM``. Prints a table and writes JSON with the bound
from ``Settings.memory_bound_bytes()`` (docs/operations.md, "Memory").

    .venv/bin/python bench/memory.py [--before-rev REV] [--dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import POLICY  # noqa: E402

TOKEN = "bench-camera-token-0123456789"
MIB = 1024 * 1024


def make_video(path: Path, width: int, height: int, frames: int, *, noise: bool = False,
               qp: int | None = None) -> None:
    """Write an H.264 MP4 (static or noise frames) in a child process (it may need GBs)."""
    code = f"""
import io, av, numpy as np
buf = io.BytesIO()
out = av.open(buf, "w", format="mp4")
s = out.add_stream("libx264", rate=15)
s.width, s.height, s.pix_fmt = {width}, {height}, "yuv420p"
s.codec_context.options = {{"preset": "ultrafast", **({{"qp": "{qp}"}} if {qp!r} is not None else {{"crf": "51"}})}}
s.codec_context.thread_count = 1
rng = np.random.default_rng(0)
for i in range({frames}):
    if {noise} or i == 0:
        f = av.VideoFrame.from_ndarray(
            (rng.integers(0, 256, ({height} * 3 // 2, {width}), dtype=np.uint8) if {noise}
             else np.full(({height} * 3 // 2, {width}), 16, np.uint8)), format="yuv420p")
    f.pts = i
    for p in s.encode(f):
        out.mux(p)
for p in s.encode(None):
    out.mux(p)
out.close()
open({str(path)!r}, "wb").write(buf.getvalue())
"""
    subprocess.run([sys.executable, "-c", code], check=True)


UPLOADS = [
    # name, camera, generator args
    ("4096x4096 x 300 frames, masked camera", "masked", dict(width=4096, height=4096, frames=300)),
    ("16000x16000 x 1 frame", "plain", dict(width=16000, height=16000, frames=1)),
    ("valid 64 MB, unmasked camera", "plain", dict(width=1280, height=720, frames=29, noise=True,
                                                   qp=0)),
    ("valid 1080p x 150 frames, masked camera", "masked",
     dict(width=1920, height=1080, frames=150, noise=False)),
]


def write_config(d: Path, port: int) -> Path:
    (d / "policies").mkdir(parents=True, exist_ok=True)
    (d / "policies" / "bench72h.toml").write_text(POLICY)
    cams = ""
    for cam, masks in (("masked", True), ("plain", False)):
        cams += f"""
[[cameras]]
id = "{cam}"
name = "{cam}"
policy = "bench72h"
zone = "entrance"
purpose = "physical security of the entrance"
push_token = "{TOKEN}"
"""
        if masks:
            cams += """[[cameras.masks]]
zone = "shelves"
polygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9], [0.1, 0.9]]
"""
    cfg = d / "config.toml"
    cfg.write_text(f"""policies_dir = "{d / 'policies'}"
[server]
listen = "127.0.0.1:{port}"
[storage]
path = "{d / 'data'}"
min_free_bytes = 0
[keys]
path = "{d / 'keys' / 'keyring'}"
{cams}""")
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def serve(src: Path, cfg: Path, port: int) -> subprocess.Popen:
    # cwd too: with ``-c`` the working directory comes first on sys.path.
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()",
                             "serve", "--config", str(cfg)], env=env,
                            cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server from {src} did not start: {proc.stderr.read().decode()[-2000:]}")


def upload(port: int, camera: str, data: bytes) -> tuple[int, str, float]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", f"/api/v1/cameras/{camera}/segments", body=data,
              headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "video/mp4"})
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    code = ""
    if r.status >= 400:
        try:
            code = json.loads(body)["error"]["code"]
        except (ValueError, KeyError):
            code = body[:60]
    return r.status, code, time.perf_counter() - t0


def run_server(label: str, src: Path, work: Path, files: dict[str, Path]) -> list[dict]:
    d = work / label
    port = free_port()
    cfg = write_config(d, port)
    proc = serve(src, cfg, port)
    check = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.__file__)"],
                           cwd=src, env={**os.environ, "PYTHONPATH": str(src)},
                           capture_output=True, text=True).stdout.strip()
    assert check.startswith(str(src)), f"the {label} server would import {check}"
    rows = []
    try:
        for name, camera, _ in UPLOADS:
            data = files[name].read_bytes()
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset VmHWM to VmRSS
            base = vm(proc.pid, "VmRSS")
            status, code, secs = upload(port, camera, data)
            peak = vm(proc.pid, "VmHWM")
            rows.append({"server": label, "upload": name, "bytes": len(data), "status": status,
                         "code": code, "seconds": round(secs, 2), "rss_before_mib":
                         round(base / MIB, 1), "peak_rss_mib": round(peak / MIB, 1),
                         "peak_over_idle_mib": round((peak - base) / MIB, 1)})
            print(f"  {label:6} {name:42} {status} {code:16} {secs:6.1f} s "
                  f"peak {peak / MIB:7.0f} MiB", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-rev", default="f481f4f",
                    help="git revision of the reference (before the budgets)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    before_src = work / "before-src"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before_src),
                        args.before_rev], check=True, capture_output=True)
        files = {}
        for name, _, gen in UPLOADS:
            p = work / (name.split(",")[0].replace(" ", "") + ".mp4")
            if not p.exists():
                print(f"generating {name} ...", flush=True)
                make_video(p, **gen)
            files[name] = p
        sys.path.insert(0, str(ROOT))
        from gateway.config import load_settings
        bound = load_settings(write_config(work / "bound", 1)).memory_bound_bytes()
        rows = run_server("before", before_src, work, files)
        rows += run_server("after", ROOT, work, files)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before_src)],
                       capture_output=True)
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'upload':42} {'bytes':>10} | {'before':>22} | {'after':>22}")
    for name, _, _ in UPLOADS:
        b = next(r for r in rows if r["server"] == "before" and r["upload"] == name)
        a = next(r for r in rows if r["server"] == "after" and r["upload"] == name)
        fmt = lambda r: f"{r['status']} {r['peak_rss_mib']:6.0f} MiB {r['seconds']:5.1f} s"  # noqa
        print(f"{name:42} {b['bytes']:>10} | {fmt(b):>22} | {fmt(a):>22}")
    print(f"\nbound with the default config (Settings.memory_bound_bytes): {bound / MIB:.0f} MiB")
    Path(args.out).write_text(json.dumps({"bound_bytes": bound, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

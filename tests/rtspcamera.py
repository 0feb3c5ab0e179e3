"""The simulated RTSP camera (scripts/rtsp-camera.py) as a subprocess the tests start and stop.

It needs Debian's Python with GStreamer's RTSP server (python3-gi,
gir1.2-gst-rtsp-server-1.0; scripts/install-system-deps.sh installs them);
tests skip with that reason only when it is truly absent.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rtsp-camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"


@functools.lru_cache(maxsize=1)
def gstreamer_missing() -> str | None:
    """Why the simulator cannot run here, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "missing = [e for e in ('rtph264pay', 'x264enc', 'h264parse', 'appsrc', 'opusenc') "
             "if not Gst.ElementFactory.find(e)]; "
             "assert not missing, 'missing GStreamer elements: ' + ', '.join(missing)")
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return ("GStreamer RTSP server not installed (run scripts/install-system-deps.sh): "
                + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "unknown error")
    return None


def require_gstreamer() -> None:
    reason = gstreamer_missing()
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspCamera:
    """One simulator process; ``start()``, ``stop()`` (SIGTERM) and ``start()`` again."""

    def __init__(self, mounts: dict[str, str], *, port: int | None = None, audio: bool = False,
                 user: str | None = None, password: str | None = None, fps: int = 15) -> None:
        self.mounts, self.audio, self.user, self.password, self.fps = (
            mounts, audio, user, password, fps)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 15.0) -> "RtspCamera":
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), "--fps", str(self.fps)]
        for name, source in self.mounts.items():
            cmd += ["--mount", f"{name}={source}"]
        if self.audio:
            cmd.append("--audio")
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready"):
                    return self
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
        self.stop()
        raise RuntimeError(f"RTSP camera did not start: {line!r} {err}")

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit status (0 when it stopped cleanly)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f:
                f.close()
        return proc.returncode

    def __enter__(self) -> "RtspCamera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

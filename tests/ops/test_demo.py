"""`footage-gateway demo` (what `make demo` runs): a new user sees footage masked,
sealed and destroyed on time within a minute."""

from __future__ import annotations

import re
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_shows_masking_sealing_and_destruction_within_a_minute(tmp_path):
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "demo", "--dir",
         str(tmp_path / "demo"), "--port", str(port), "--interval", "3", "--duration", "42"],
        capture_output=True, text=True, timeout=120)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert f"footage-gateway demo on http://127.0.0.1:{port}" in log
    for role in ("director", "staff", "auditor"):
        assert re.search(rf"^\s+{role}\s+fgw_\S{{20,}}$", log, re.M), log[:2000]
    assert f"web UI: open http://127.0.0.1:{port}/ and sign in" in log
    for role in ("director", "staff", "auditor", "admin"):
        assert re.search(rf"^\s+user {role}\s+password \S{{16}}$", log, re.M), log[:2000]
    assert (tmp_path / "demo" / "logins.txt").stat().st_mode & 0o777 == 0o600
    stored = re.findall(r"stored ([0-9a-f]{32}) \(masked, sealed", log)
    destroyed = re.findall(r"destroyed segment ([0-9a-f]{32}) .*?key erased ([0-9.]+) s after", log)
    assert len(stored) >= 5, log[-3000:]
    assert destroyed, "nothing destroyed within 42 s: " + log[-3000:]
    assert destroyed[0][0] == stored[0]  # oldest first
    assert all(float(lag) < 2.0 for _, lag in destroyed)
    assert "Traceback" not in log

    data = tmp_path / "demo" / "data"
    ring = tmp_path / "demo" / "keys" / "keyring"  # kept apart from the footage
    assert ring.stat().st_mode & 0o777 == 0o600 and not (data / "keyring").exists()
    files = list((data / "segments").rglob("*.fgs"))
    assert files and all(b"ftyp" not in f.read_bytes() for f in files)


def test_demo_starts_a_second_time_in_the_same_directory(tmp_path):
    """The second start reuses the saved logins (it used to crash: 'async_generator' object
    is not iterable) and records again; with GStreamer the camera is a real RTSP server."""
    from gateway.demo import rtsp_simulator_missing
    logs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", "from gateway.cli import main; main()", "demo", "--dir",
             str(tmp_path / "demo"), "--port", str(free_port()), "--interval", "1",
             "--duration", "4"], capture_output=True, text=True, timeout=120)
        log = out.stdout + out.stderr
        assert out.returncode == 0 and "Traceback" not in log, log[-3000:]
        assert re.search(r"stored ([0-9a-f]{32}) \(masked, sealed", log), log[-3000:]
        logs.append(log)
    tokens = [re.search(r"^\s+director\s+(fgw_\S+)$", lg, re.M).group(1) for lg in logs]
    assert tokens[0] == tokens[1]  # the saved logins were reused, not re-issued
    if rtsp_simulator_missing() is None:
        assert "is a simulated RTSP camera (rtsp://127.0.0.1:" in logs[1]
        assert "streamed" in logs[1] and "over RTSP -> stored" in logs[1]

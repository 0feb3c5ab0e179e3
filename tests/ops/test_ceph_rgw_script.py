"""scripts/ceph-rgw.sh leaves no daemon behind: a leftover cluster and a killed test run."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from s3server import packages_missing, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except OSError:
        return False


def wait_gone(pids: list[int], seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_start_clears_a_leftover_and_the_watcher_stops_the_cluster_when_its_owner_dies():
    reason = packages_missing()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="fgw-ceph-"))
    owner = subprocess.Popen(["sleep", "300"])
    try:
        first = start(directory)
        old = list(first["pids"].values())
        assert all(alive(p) for p in old)

        second = start(directory, watch_pid=owner.pid)  # the first run "crashed" in place
        assert wait_gone(old, 0) == [], "start left the previous cluster running"
        new = list(second["pids"].values())
        assert all(alive(p) for p in new) and second["endpoint"] != ""

        owner.kill()  # the test run dies without a finalizer
        owner.wait()
        assert wait_gone(new) == []
        deadline = time.monotonic() + 5
        while directory.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not directory.exists()
    finally:
        owner.kill()
        stop(directory)
        assert not os.path.exists(directory)

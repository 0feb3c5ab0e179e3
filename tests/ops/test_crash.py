"""Crash tests: kill the process (SIGKILL) after each step of the write and purge
procedures; after restart, ``check`` passes and nothing acknowledged is lost.

Each test runs the real gateway as a subprocess (tests/crash_server.py) on its
own data directory. ``FOOTAGE_GATEWAY_CRASH_AT`` is read when the gateway is
imported, so every phase is a separate process:

1. start without the crash variable, ingest segment A (a long-retention
   camera: the acknowledged footage that must survive), stop with SIGTERM;
2. start with ``FOOTAGE_GATEWAY_CRASH_AT=<point>`` and drive the procedure
   to that point (a write: upload B; a purge: upload C whose deadline is two
   seconds away and let the purge loop reach it); the process SIGKILLs itself;
3. ``footage-gateway check`` right after the crash (it must see the damage
   the crash left, or there would be nothing to prove), then restart without
   the variable, wait for /healthz, stop, and run ``check`` again: exit 0.

Between and after, no file under the data directory (segments, temp files,
catalog, WAL, key ring) may contain plaintext video. Every wait polls with a
deadline; nothing sleeps for timing.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from gateway.catalog import Catalog
from gateway.catalog import segments as seg_sql
from gateway.clock import US, SystemClock, iso
from gateway.config import Settings, load_settings
from gateway.crashpoints import PURGE_POINTS, WRITE_POINTS
from gateway.media.redact import redact
from gateway.media.synth import make_segment
from gateway.vault import format as fmt
from gateway.vault.keyring import KeyRing
from gateway.vault.storage import LocalStorage

from conftest import CAMERA_TOKEN, write_policy

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).resolve().parents[1] / "crash_server.py"
START_TIMEOUT_S = 30.0
#: A purge crash needs the deadline (2 s away) plus a purge pass.
CRASH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
KEEP, BRIEF = "keep", "brief"
SEGMENT_S = 1.0
#: What the 5 s policy leaves between upload and deadline for the purge tests.
DEADLINE_AHEAD_S = 3.0
#: The points after which the crash leaves nothing for recovery to do.
CLEAN_AFTER = {"write.committed", "purge.receipt"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_toml(root: Path, port: int) -> str:
    def cam(id: str, extra: str = "") -> str:
        return (f'[[cameras]]\nid = "{id}"\nname = "Camera {id}"\npolicy = "test5s"\n'
                f'zone = "entrance"\npurpose = "physical security of the entrance"\n'
                f'push_token = "{CAMERA_TOKEN}"\n{extra}\n')
    return (f'policies_dir = "{root / "policies"}"\n\n[server]\nlisten = "127.0.0.1:{port}"\n\n'
            f'[storage]\npath = "{root / "data"}"\nmin_free_bytes = 0\n\n'
            + cam(KEEP, 'retention = "1d"\nretention_reason = "crash test: must outlive the run"')
            + cam(BRIEF))


@dataclass
class Gateway:
    """One data directory, served by successive gateway processes."""

    root: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None
    runs: int = 0

    def __post_init__(self) -> None:
        write_policy(self.root / "policies")
        self.config = self.root / "config.toml"
        self.config.write_text(_config_toml(self.root, self.port))

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self, crash_at: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "FOOTAGE_GATEWAY_CRASH_AT"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if crash_at is not None:
            env["FOOTAGE_GATEWAY_CRASH_AT"] = crash_at
        self.runs += 1
        self.log = self.root / f"server-{self.runs}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(SERVER), str(self.config)],
                                         cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gateway exited with {self.proc.returncode} while starting:\n"
                            + self.log.read_text(errors="replace"))
            try:
                status, _ = self.request("GET", "/healthz", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)  # polling interval, not a timing assumption
        pytest.fail(f"gateway not healthy within {START_TIMEOUT_S} s:\n"
                    + self.log.read_text(errors="replace"))

    def stop(self) -> None:
        """SIGTERM, as systemd stops it; aiohttp shuts down cleanly."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=STOP_TIMEOUT_S) == 0, self.log.read_text(errors="replace")

    def wait_killed(self) -> None:
        """The process reached its crash point: it died of SIGKILL, by its own hand."""
        try:
            code = self.proc.wait(timeout=CRASH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("the crash point was never reached:\n" + self.log.read_text(errors="replace"))
        assert code == -signal.SIGKILL, self.log.read_text(errors="replace")

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 20.0) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
        finally:
            conn.close()

    def upload(self, camera: str, data: bytes, start_us: int | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {CAMERA_TOKEN}", "Content-Type": "video/mp4"}
        if start_us is not None:
            headers["X-Segment-Start"] = iso(start_us)
        return self.request("POST", f"/api/v1/cameras/{camera}/segments", data, headers)

    def check(self) -> subprocess.CompletedProcess:
        """``footage-gateway check --config``: the offline consistency check."""
        return subprocess.run(
            [sys.executable, "-c", "from gateway.cli import main; main()", "check",
             "--config", str(self.config)],
            cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.fixture
def gateway(tmp_path: Path):
    gw = Gateway(tmp_path)
    yield gw
    gw.kill_if_running()


# ------------------------------------------------------------------ helpers


def _segment(seed: int) -> bytes:
    return make_segment(SEGMENT_S, 10, 160, 120, seed=seed)


def _catalog_state(settings: Settings) -> tuple[dict[str, str], set[int]]:
    """(uid -> state of every segment row, segment ids that have a data key)."""
    db = Catalog.open(settings.catalog_path)
    try:
        rows = {uid: state for uid, state, _b, _s in seg_sql.all_uids(db)}
        keys = {r[0] for r in db.conn.execute("SELECT segment_id FROM data_keys")}
        return rows, keys
    finally:
        db.close()


def _read_plaintext(settings: Settings, uid: str) -> bytes:
    """Decrypt a kept segment offline: catalog row -> wrapped key -> key ring -> file."""
    db = Catalog.open(settings.catalog_path)
    try:
        seg = seg_sql.get_segment(db, uid)
        assert seg is not None and seg.state == "stored", f"segment {uid} is not kept: {seg}"
        key = seg_sql.get_data_key(db, seg.id)
        assert key is not None, f"segment {uid} has no data key"
    finally:
        db.close()
    ring = KeyRing.open(settings.keyring_path, create=False)
    data_key = ring.unwrap(key.kek_id, key.wrapped, key_id=key.key_id)
    blob = LocalStorage(settings.storage_path).get(uid)
    return fmt.open_sealed(blob, data_key, expected_key_id=key.key_id)


def _frames(mp4: bytes) -> int:
    with av.open(io.BytesIO(mp4)) as c:
        return sum(1 for _ in c.decode(video=0))


def _assert_readable(settings: Settings, uid: str, markers: list[bytes] = ()) -> None:
    """The segment decrypts to the whole clip (and holds the bytes the plaintext scan seeks)."""
    plain = _read_plaintext(settings, uid)
    assert _frames(plain) == round(SEGMENT_S * 10)
    for m in markers:  # so the scan for plaintext on disk could have found this clip
        assert m in plain


def _markers(upload: bytes) -> list[bytes]:
    """Byte strings the plaintext the server holds in memory really contains."""
    plain = redact(upload, []).data  # what the remux path hands to the seal step
    mid = len(plain) // 2
    return [b"ftyp", b"mdat", plain[mid:mid + 32]]


def _assert_no_plaintext(data_dir: Path, markers: list[bytes]) -> None:
    """No file anywhere under the data directory (temp files, catalog, WAL...) holds video."""
    scanned = 0
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            scanned += 1
            for m in markers:
                assert m not in content, f"plaintext {m[:8]!r}... found in {path}"
    assert scanned >= 3  # at least the catalog, the key ring and one segment


def _ingest_acknowledged(gw: Gateway) -> tuple[str, list[bytes]]:
    """Phase 1: a clean run stores segment A on the long-retention camera."""
    data = _segment(seed=1)
    gw.start()
    status, body = gw.upload(KEEP, data)
    assert status == 201, body
    gw.stop()
    return body["id"], _markers(data)


def _restart_and_check(gw: Gateway, point: str) -> None:
    before = gw.check()
    # Where the crash left work for recovery, the offline check must see it.
    assert before.returncode == (0 if point in CLEAN_AFTER else 1), before.stdout + before.stderr
    gw.start()
    gw.stop()
    after = gw.check()
    assert after.returncode == 0, after.stdout + after.stderr


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_crash_during_write_loses_nothing_acknowledged(gateway: Gateway, point: str) -> None:
    uid_a, markers_a = _ingest_acknowledged(gateway)
    data_b = _segment(seed=2)
    markers = markers_a + _markers(data_b)

    gateway.start(crash_at=point)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        gateway.upload(KEEP, data_b)  # the process dies before it can answer 201
    gateway.wait_killed()
    _assert_no_plaintext(gateway.data_dir, markers)

    _restart_and_check(gateway, point)
    settings = gateway.settings
    rows, keys = _catalog_state(settings)
    _assert_readable(settings, uid_a, markers_a)
    others = set(rows) - {uid_a}
    if point == "write.committed":
        # The row and its key were committed before the kill: B is kept, whole.
        assert len(others) == 1, rows
        _assert_readable(settings, others.pop(), _markers(data_b))
    else:
        assert others == set(), f"an unacknowledged write left a row: {rows}"
    assert set(LocalStorage(settings.storage_path).uids()) == set(rows)
    assert LocalStorage(settings.storage_path).temp_files() == []
    assert len(keys) == len(rows)
    _assert_no_plaintext(gateway.data_dir, markers)


@pytest.mark.parametrize("point", PURGE_POINTS)
def test_crash_during_purge_finishes_the_purge(gateway: Gateway, point: str) -> None:
    uid_a, markers_a = _ingest_acknowledged(gateway)
    data_c = _segment(seed=3)
    markers = markers_a + _markers(data_c)

    gateway.start(crash_at=point)
    # Recorded so that its deadline (end + 5 s) falls a few seconds from now.
    start = SystemClock().now_us() - int((5 + SEGMENT_S - DEADLINE_AHEAD_S) * US)
    uid_c = None
    try:
        status, body = gateway.upload(BRIEF, data_c, start_us=start)
        assert status == 201, body
        uid_c = body["id"]
    except (ConnectionError, http.client.HTTPException):
        pass  # loaded machine: the deadline came, and the crash, before the 201 went out
    gateway.wait_killed()  # the purge loop reached the point at the deadline
    _assert_no_plaintext(gateway.data_dir, markers)

    _restart_and_check(gateway, point)
    settings = gateway.settings
    rows, keys = _catalog_state(settings)
    assert rows.keys() == {uid_a}  # C's row is gone, A's is kept
    assert set(LocalStorage(settings.storage_path).uids()) == {uid_a}
    assert len(keys) == 1  # only A's data key is left
    db = Catalog.open(settings.catalog_path)
    try:
        receipts = [r for r in seg_sql.receipts(db) if r.camera == BRIEF]
    finally:
        db.close()
    assert len(receipts) == 1, receipts
    assert uid_c in (None, receipts[0].segment_uid)
    assert receipts[0].destroyed_at_us >= receipts[0].deadline_us  # never early
    _assert_readable(settings, uid_a, markers_a)
    _assert_no_plaintext(gateway.data_dir, markers)

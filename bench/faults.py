"""Kill -9 at random moments while the gateway ingests, purges, rotates keys, builds exports
and moves holds; after every restart, prove what it promises.

Usage: ``python bench/faults.py [--trials 1000] [--seed 1] [--out bench/results/faults.json]``

Each trial:

1. starts the real gateway (``tests/crash_server.py``, the background loops on) on one data
   directory that lives for the whole run, and drives a mixed workload against it:
   - two cameras push 1 s segments: ``keep`` (1 day) and ``brief`` (a 5 s policy, so
     segments fall due and are purged while the workload runs);
   - staff request holds over ``keep``, the director approves, records a court order,
     builds an export, releases;
   - ``footage-gateway keys rotate`` runs as its own process (a new epoch, every data key
     re-wrapped);
2. after a random delay (uniform 0.3-4 s) sends SIGKILL to the gateway and any rotation in
   flight: the moment falls wherever it falls (inside a write, a purge, a re-wrap, an export
   build or a hold transition);
3. restarts it without the background loops (so start-up recovery runs and no new purge
   begins), waits for ``/healthz``, stops it with SIGTERM and checks offline:
   - ``check`` (gateway.segments.check.run_check, deep) passes;
   - every acknowledged segment (a 201 or 200 the client saw) is either kept and decrypts,
     or has a purge receipt; none was destroyed before the deadline it was acknowledged with;
   - no file under the data directory (segments, temp files, catalog + WAL, key ring)
     holds plaintext video: ``ftyp``/``mdat`` atoms, or 32 bytes from the middle of any
     uploaded clip. Export packages are the deliverable and are counted apart.

The reference for the cost columns is the same gateway started after a clean stop, on the
same directory, timed at the start and every ``CLEAN_EVERY`` trials (as the data grows).
Prints a table and writes JSON. Not part of the timed test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.catalog import Catalog  # noqa: E402
from gateway.catalog import segments as seg_sql  # noqa: E402
from gateway.clock import US, SystemClock, iso, parse_iso  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.media.redact import redact  # noqa: E402
from gateway.media.synth import make_segment  # noqa: E402
from gateway.segments.check import run_check  # noqa: E402
from gateway.vault import format as fmt  # noqa: E402
from gateway.vault.auditkey import read_key  # noqa: E402
from gateway.vault.keyring import KeyRing  # noqa: E402
from gateway.vault.storage import LocalStorage  # noqa: E402

SERVER = ROOT / "tests" / "crash_server.py"
TOKEN = "bench-camera-token-0123456789"
START_TIMEOUT_S = 60.0
#: Plaintext MP4 structure: an ``ftyp`` box with a brand, or ``moov`` opening with ``mvhd``.
#: Not the bare 4-byte atom names: about 1 GB of ciphertext is scanned in a 1,000-trial
#: run, where any given 4 bytes occur by chance about once per 4 GiB per marker (the
#: 60-trial run never met one; the first 1,000-trial run did, at trial 551: "ftyp" at
#: byte 655 of a segment that authenticated and decrypted, whose plaintext there reads
#: "step"). These patterns are 8+ bytes; the 32-byte clip samples catch any content.
MP4_BOXES = re.compile(rb"ftyp(?:isom|iso[2-9]|mp4[12]|avc1|M4V |qt  |dash|msnv)|moov.{4}mvhd",
                       re.DOTALL)
#: Every this many trials ``check`` hashes every segment file again (``Bench.deep_check``).
FULL_EVERY = 50
CLIPS = 8  # distinct clips, pushed in turn (each push has its own claimed start)

POLICY_5S = """id = "faults5s"
title = "Fault bench policy (5 s)"
jurisdiction = "Benchmark"
[retention]
minimum = "5s"
minimum_source = "bench"
maximum = "30d"
maximum_source = "bench"
hold_request_grace = "60s"
hold_review = "1d"
[access]
view_roles = ["director"]
source = "bench"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(root: Path, port: int, min_free_bytes: int = 0) -> str:
    def cam(id: str, extra: str = "") -> str:
        return (f'[[cameras]]\nid = "{id}"\nname = "Camera {id}"\npolicy = "faults5s"\n'
                f'zone = "entrance"\npurpose = "physical security of the entrance"\n'
                f'push_token = "{TOKEN}"\n{extra}\n')
    return (f'policies_dir = "{root / "policies"}"\n\n[server]\nlisten = "127.0.0.1:{port}"\n'
            f'max_concurrent_uploads = 4\n\n[storage]\npath = "{root / "data"}"\nmin_free_bytes = {min_free_bytes}\n\n'
            + cam("keep", 'retention = "1d"\nretention_reason = "fault bench: must outlive the run"')
            + cam("brief"))


@dataclass
class Ack:
    uid: str
    camera: str
    deadline_us: int
    trial: int


@dataclass
class Tally:
    trials: int = 0
    acknowledged: int = 0
    kept_readable: int = 0
    receipted: int = 0
    lost: int = 0
    destroyed_early: int = 0
    plaintext_files: int = 0
    check_failures: int = 0
    recoveries: dict = field(default_factory=dict)
    killed_during: dict = field(default_factory=dict)
    restart_s: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    export_packages_at_rest: int = 0
    holds_moved: int = 0
    exports_built: int = 0
    rotations_started: int = 0
    purges_pending: int = 0


class Forked:
    """A process forked by ``bench/zygote.py``: the parts of ``subprocess.Popen`` used here."""

    def __init__(self, zygote: "Zygote", pid: int) -> None:
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.call(op="poll", pid=self.pid)["rc"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.zygote.call(op="wait", pid=self.pid, timeout=timeout)["rc"]
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # not reaped yet, so the pid is still this process's
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """``bench/zygote.py``: gateway and CLI processes forked from one that imported them."""

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "zygote.py")],
                                     cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def call(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server exited")
        return json.loads(line)

    def spawn(self, kind: str, argv: list[str], log: Path | None) -> Forked:
        return Forked(self, self.call(op="spawn", kind=kind, argv=argv,
                                      log=None if log is None else str(log))["pid"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


class Bench:
    def __init__(self, root: Path, rng: random.Random, min_free_bytes: int = 0,
                 fork_server: bool = False) -> None:
        self.root, self.rng = root, rng
        (root / "policies").mkdir(parents=True)
        (root / "policies" / "faults5s.toml").write_text(POLICY_5S)
        self.port = free_port()
        self.config = root / "config.toml"
        self.config.write_text(config(root, self.port, min_free_bytes))
        self.settings = load_settings(self.config)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.rotations: list[subprocess.Popen] = []
        self.acks: dict[str, Ack] = {}
        self.clips = [make_segment(1.0, 10, 160, 120, seed=s) for s in range(CLIPS)]
        self.markers = [self._middle(c) for c in self.clips]
        self.tokens: dict[str, str] = {}
        self.tally = Tally()
        #: uid -> (inode, size, mtime, ctime) of a file last proven to match its catalog
        #: SHA-256: an unchanged file is not hashed again (see ``deep_check``).
        self.proven: dict[str, tuple[int, int, int, int]] = {}
        self.zygote = Zygote(self.env()) if fork_server else None

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()

    @staticmethod
    def _middle(clip: bytes) -> bytes:
        plain = redact(clip, []).data  # what the remux path hands to the seal step
        mid = len(plain) // 2
        return plain[mid:mid + 32]

    # ------------------------------------------------------------ processes

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "FOOTAGE_GATEWAY_CRASH_AT"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    async def start(self, loops: bool = True) -> float:
        t0 = time.monotonic()
        extra = [] if loops else ["--no-loops"]
        if self.zygote is not None:
            self.proc = self.zygote.spawn("server", [str(self.config), *extra],
                                          self.root / "server.log")
        else:
            log = (self.root / "server.log").open("ab")
            self.proc = subprocess.Popen([sys.executable, str(SERVER), str(self.config), *extra],
                                         cwd=ROOT, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT)
        async with aiohttp.ClientSession() as s:
            while time.monotonic() - t0 < START_TIMEOUT_S:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited {self.proc.returncode} at start; "
                                       f"see {self.root / 'server.log'}")
                try:
                    async with s.get(self.base + "/healthz") as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("gateway did not answer /healthz")

    def kill(self) -> None:
        for p in [self.proc, *self.rotations]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in [self.proc, *self.rotations]:
            if p is not None:
                p.wait()
        self.rotations = []

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.tally.problems.append("SIGTERM did not stop the gateway within 30 s")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()",
                               *args, "--config", str(self.config)], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=120)

    def make_users(self) -> None:
        for name, role in (("dana", "director"), ("sam", "staff")):
            out = self.cli("users", "add", name, "--role", role)
            assert out.returncode == 0, out.stderr
            out = self.cli("users", "token", name)
            assert out.returncode == 0, out.stderr
            self.tokens[name] = out.stdout.strip().splitlines()[-1]

    # ------------------------------------------------------------ workload

    def h(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def pusher(self, s: aiohttp.ClientSession, trial: int, camera: str) -> None:
        i = 0
        while True:
            clip = self.clips[(i + (camera == "brief")) % CLIPS]
            start = SystemClock().now_us() - 1 * US
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "video/mp4",
                       "X-Segment-Start": iso(start)}
            try:
                async with s.post(f"{self.base}/api/v1/cameras/{camera}/segments", data=clip,
                                  headers=headers) as r:
                    if r.status in (200, 201):
                        body = await r.json()
                        self.acks[body["id"]] = Ack(body["id"], camera,
                                                    parse_iso(body["deadline"]), trial)
                        self.tally.acknowledged += r.status == 201
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)  # the gateway is gone or restarting: the camera retries
            i += 1

    async def holds(self, s: aiohttp.ClientSession) -> None:
        while True:
            now = SystemClock().now_us()
            body = {"cameras": ["keep"], "start": iso(now - 30 * US), "end": iso(now - 1 * US),
                    "incident": "INC-F", "reason": "fault bench"}
            try:
                async with s.post(self.base + "/api/v1/holds", json=body, headers=self.h("sam")) as r:
                    if r.status != 201:
                        await asyncio.sleep(0.2)
                        continue
                    hold = (await r.json())["id"]
                for action, payload in (("approve", {"note": "ok"}),
                                        ("court-order", {"reference": "CO-1"})):
                    async with s.post(f"{self.base}/api/v1/holds/{hold}/{action}", json=payload,
                                      headers=self.h("dana")) as r:
                        self.tally.holds_moved += r.status == 200
                export = {"ground": "court_order", "recipient": "law_enforcement",
                          "reason": "fault bench", "reference": "CO-1",
                          "counsel": "county attorney"}
                async with s.post(f"{self.base}/api/v1/holds/{hold}/exports", json=export,
                                  headers=self.h("dana")) as r:
                    self.tally.exports_built += r.status == 201
                    if r.status != 201 and os.environ.get("FAULTS_DEBUG"):
                        print("export:", r.status, await r.text())
                async with s.post(f"{self.base}/api/v1/holds/{hold}/release", json={},
                                  headers=self.h("dana")) as r:
                    self.tally.holds_moved += r.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)

    async def rotator(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            self.rotations = [p for p in self.rotations if p.poll() is None]
            argv = ["keys", "rotate", "--config", str(self.config)]
            self.rotations.append(
                self.zygote.spawn("cli", argv, None) if self.zygote is not None else
                subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()",
                                  *argv], cwd=ROOT, env=self.env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL))
            self.tally.rotations_started += 1

    async def trial(self, n: int) -> None:
        began = time.time() - 1.0  # file times have coarse resolution on some filesystems
        await self.start()
        delay = self.rng.uniform(0.3, 4.0)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            tasks = [asyncio.create_task(self.pusher(s, n, "keep")),
                     asyncio.create_task(self.pusher(s, n, "brief")),
                     asyncio.create_task(self.holds(s)),
                     asyncio.create_task(self.rotator())]
            await asyncio.sleep(delay)
            busy = "rotation" if any(p.poll() is None for p in self.rotations) else "ingest/purge"
            self.kill()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.tally.killed_during[busy] = self.tally.killed_during.get(busy, 0) + 1
        # Recovery runs at start; without the loops no new purge starts before the check.
        self.tally.restart_s.append(await self.start(loops=False))
        self.stop()
        self.verify(n, began)
        self.tally.trials += 1

    # ------------------------------------------------------------ proof

    def verify(self, n: int, since: float) -> None:
        t = self.tally
        st = self.settings
        db = Catalog.open(st.catalog_path)
        ring = KeyRing.open(st.keyring_path, create=False)
        storage = LocalStorage(st.storage_path)
        try:
            full = n % FULL_EVERY == 0
            rep = run_check(db, storage, ring, deep=full,
                            audit_key=read_key(st.audit_key_path))  # the chain's MACs too
            bad = self.deep_check(db, storage, full and rep.ok)
            if not rep.ok or bad:
                t.check_failures += 1
                t.problems.append(f"trial {n}: check failed: {rep} {bad}")
            for uid, ack in list(self.acks.items()):
                if ack.trial != n and n % 50:  # older acks: a full pass every 50 trials
                    continue
                seg = seg_sql.get_segment(db, uid)
                if seg is not None and seg.state == "stored":
                    key = seg_sql.get_data_key(db, seg.id)
                    try:
                        data_key = ring.unwrap(key.kek_id, key.wrapped, key_id=key.key_id)
                        fmt.open_sealed(storage.get(uid), data_key, expected_key_id=key.key_id)
                        t.kept_readable += ack.trial == n
                    except Exception as err:  # noqa: BLE001 - every failure is a finding
                        t.lost += 1
                        t.problems.append(f"trial {n}: {uid} unreadable: {err!r}")
                    continue
                if seg is not None and seg.state == "shredded":
                    # Key erased, receipt not yet written: the purge finishes at the next start.
                    t.purges_pending += 1
                    if seg.shredded_us is not None and seg.shredded_us < ack.deadline_us:
                        t.destroyed_early += 1
                        t.problems.append(f"trial {n}: {uid} shredded before its deadline")
                    continue
                receipt = seg_sql.get_receipt(db, uid)
                if receipt is None:
                    t.lost += 1
                    t.problems.append(f"trial {n}: acknowledged {uid} has neither row nor receipt")
                    continue
                t.receipted += ack.trial == n
                if receipt.destroyed_at_us < ack.deadline_us:
                    t.destroyed_early += 1
                    t.problems.append(f"trial {n}: {uid} destroyed "
                                      f"{(ack.deadline_us - receipt.destroyed_at_us) / US:.3f} s early")
                del self.acks[uid]  # destroyed on time: nothing more to check
        finally:
            db.close()
        self.scan(n, since)

    def deep_check(self, db: Catalog, storage: LocalStorage, full: bool) -> list[str]:
        """``check --deep``'s SHA-256 comparison, for every file not proven unchanged.

        ``run_check(deep=True)`` hashes every segment file after every restart, so
        its cost grew with the run (0.23 s a trial at trial 40, ~5 s by trial 1,000).
        A sealed file is never rewritten; any change to it (content, rename, a new
        inode) moves its ctime, which nothing in user space can set back. So a file
        whose inode, size, mtime and ctime are those it had when its hash last matched
        is the same file; every other one is hashed, as ``run_check`` would. A full
        ``run_check(deep=True)`` still runs every ``FULL_EVERY`` trials (``full``).
        """
        problems = []
        for uid, state, size, sha in seg_sql.all_uids(db):
            if state in ("shredded", "corrupt"):
                continue  # reported by run_check
            try:
                s = os.stat(storage.path(uid))
            except FileNotFoundError:
                continue  # reported by run_check
            sig = (s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
            if self.proven.get(uid) == sig or s.st_size != size:  # size: run_check says
                continue
            if full or storage.sha256(uid) == sha:  # full: run_check hashed it
                self.proven[uid] = sig
            else:
                problems.append(f"segment {uid}: file SHA-256 differs from the catalog")
        return problems

    def scan(self, n: int, since: float) -> None:
        """Every file written since the trial began (sealed segments never change after)."""
        for path, mtime in _files(self.settings.storage_path):
            if mtime < since:
                continue
            if path.parent.name == "exports":  # sealed at rest now: scanned like the rest
                self.tally.export_packages_at_rest += 1
            content = path.read_bytes()
            hits = [(m.start(), m.group()[:12]) for m in [MP4_BOXES.search(content)] if m]
            hits += [(content.find(m), b"clip sample") for m in self.markers if m in content]
            if hits:
                self.tally.plaintext_files += 1
                # Where and what matched: enough to tell a leak from a coincidence afterwards.
                self.tally.problems.append(f"trial {n}: plaintext in {path}: {hits[:3]} "
                                           f"of {len(content)} bytes")


def _files(root: Path):
    """(path, mtime) of every regular file under ``root``: one stat each (scandir)."""
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), entry.stat(follow_symlinks=False).st_mtime


async def disk_full(root: Path, seconds: float = 20.0) -> dict:
    """The storage volume (segments and catalog) on an 8 MiB tmpfs: push until it fills.

    ``storage.min_free_bytes`` is 1 MiB (the default, 512 MiB, scaled down): the reserve
    that keeps the catalog writable, so purges can still free space.

    Expect 507 (never 500, never an acknowledged segment lost), no temp file left,
    ``check`` passing afterwards, and 201 again once purges have freed space.
    """
    root.mkdir(parents=True)
    bench = Bench(root, random.Random(0), min_free_bytes=1 << 20)
    data = bench.settings.storage_path
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(data)],
                   check=True)
    statuses: dict[int, int] = {}
    recovered_after_full = False
    try:
        await bench.start()
        t0 = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
            full_seen = False
            while time.monotonic() - t0 < seconds:
                clip = bench.clips[len(bench.acks) % CLIPS]
                start = SystemClock().now_us() - 1 * US
                async with s.post(f"{bench.base}/api/v1/cameras/brief/segments", data=clip,
                                  headers={"Authorization": f"Bearer {TOKEN}",
                                           "Content-Type": "video/mp4",
                                           "X-Segment-Start": iso(start)}) as r:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status in (200, 201):
                        body = await r.json()
                        bench.acks[body["id"]] = Ack(body["id"], "brief",
                                                     parse_iso(body["deadline"]), 1)
                        recovered_after_full |= full_seen
                    full_seen |= r.status == 507
                    if r.status == 507:
                        await asyncio.sleep(0.2)  # the camera backs off; purges free space
        bench.stop()
        await bench.start(loops=False)
        bench.stop()
        bench.verify(1, 0.0)
        temp_left = [p.name for p in data.rglob("*") if ".tmp" in p.name]
    finally:
        if bench.proc is not None and bench.proc.poll() is None:
            bench.kill()
        subprocess.run(["umount", str(data)], check=False)
    t = bench.tally
    return {"statuses": statuses, "server_errors": sum(v for k, v in statuses.items() if k >= 500
                                                       and k != 507 and k != 503),
            "accepted_again_after_full": recovered_after_full, "lost": t.lost,
            "check_failures": t.check_failures, "plaintext_files": t.plaintext_files,
            "temp_files_left": len(temp_left), "problems": t.problems[:10]}


def clean_restart_s(bench: Bench, runs: int = 3) -> list[float]:
    """The reference: clean starts to /healthz on the same directory (after a clean stop)."""
    times = []
    for _ in range(runs):
        times.append(asyncio.run(bench.start(loops=False)))
        bench.stop()
    return times


#: A clean restart is timed every this many trials, so the reference sees the catalog and
#: storage grow as the restarts after kill -9 do.
CLEAN_EVERY = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.json"))
    ap.add_argument("--disk-full", action=argparse.BooleanOptionalAction, default=os.geteuid() == 0,
                    help="also fill a small tmpfs under the gateway (needs root to mount)")
    ap.add_argument("--fork-server", action=argparse.BooleanOptionalAction, default=True,
                    help="fork the gateway and CLI processes from one that imported them "
                         "(bench/zygote.py): the same trial, without ~1.4 s of imports a start")
    args = ap.parse_args()
    # Started in the background by a shell, SIGINT is ignored; SIGTERM ends the run too.
    # Either stops it between steps with a partial report (what the trials so far proved).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        bench = Bench(Path(tmp), rng, fork_server=args.fork_server)
        asyncio.run(bench.start())
        bench.stop()
        bench.make_users()
        reference = clean_restart_s(bench)
        t0 = time.monotonic()
        try:
            for n in range(1, args.trials + 1):
                asyncio.run(bench.trial(n))
                if n % CLEAN_EVERY == 0:
                    reference += clean_restart_s(bench, 1)
                if n % 25 == 0:
                    print(f"  {n} trials, {bench.tally.acknowledged} acknowledged, "
                          f"{len(bench.tally.problems)} problems, {time.monotonic() - t0:.0f} s",
                          flush=True)
                    report(bench, reference, t0, args.out, quiet=True)
        except KeyboardInterrupt:  # a partial run still reports what it proved
            bench.kill()
        finally:
            bench.close()
        full = asyncio.run(disk_full(Path(tmp) / "full")) if args.disk_full else None
        report(bench, reference, t0, args.out, full=full)


def _commit() -> str | None:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or None


COMMIT = _commit()


def report(bench: "Bench", clean: list[float], t0: float, out: str, quiet: bool = False,
           full: dict | None = None) -> None:
    """Print the table (unless ``quiet``) and write the JSON: what the trials so far proved."""
    t = bench.tally
    reference = sorted(clean)[len(clean) // 2] if clean else 0.0
    restarts = sorted(t.restart_s)
    p50 = restarts[len(restarts) // 2] if restarts else 0.0
    result = {
        "trials": t.trials, "acknowledged": t.acknowledged,
        "kept_readable_checked": t.kept_readable, "receipted": t.receipted,
        "lost": t.lost, "destroyed_early": t.destroyed_early,
        "plaintext_files": t.plaintext_files, "check_failures": t.check_failures,
        "holds_moved": t.holds_moved, "exports_built": t.exports_built,
        "rotations_started": t.rotations_started, "killed_during": t.killed_during,
        "purges_left_pending_after_sigterm": t.purges_pending,
        "export_packages_seen_at_rest": t.export_packages_at_rest,
        "restart_after_kill_p50_s": round(p50, 3),
        "clean_restart_p50_s": round(reference, 3),
        "clean_restarts_timed": len(clean),
        "restart_ratio": round(p50 / reference, 2) if reference else None,
        "wall_s": round(time.monotonic() - t0, 1),
        "s_per_trial": round((time.monotonic() - t0) / t.trials, 2) if t.trials else None,
        "fork_server": bench.zygote is not None,
        "commit": COMMIT,  # the code the run loaded at its start
        "problems": t.problems[:50],
        "disk_full": full,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    rows = [("trials", t.trials), ("acknowledged segments", t.acknowledged),
            ("lost", t.lost), ("destroyed before deadline", t.destroyed_early),
            ("files with plaintext video", t.plaintext_files), ("check failures", t.check_failures),
            ("purges left half-done by the SIGTERM stop", t.purges_pending),
            ("hold transitions / exports / key rotations started",
             f"{t.holds_moved} / {t.exports_built} / {t.rotations_started}"),
            ("restart after kill -9, p50", f"{p50:.2f} s"),
            ("clean restart (reference), p50", f"{reference:.2f} s"),
            ("ratio", result["restart_ratio"])]
    width = max(len(r[0]) for r in rows)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    if quiet:
        return
    print("| what | figure |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    for p in t.problems[:20]:
        print("PROBLEM:", p)
    if full is not None:
        print(f"\nfull disk (8 MiB tmpfs, 1 MiB reserve): answers {full['statuses']}, server errors "
              f"{full['server_errors']}, accepted again after full: "
              f"{full['accepted_again_after_full']}, lost {full['lost']}, temp files left "
              f"{full['temp_files_left']}, check failures {full['check_failures']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

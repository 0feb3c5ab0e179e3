"""Shared by the hold, export, audit and access tests: an app on a FakeClock with one user per role."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


from gateway.users import service as users
from gateway.app import create_app
from gateway.catalog import segments as seg_sql
from gateway.clock import US, FakeClock, iso
from gateway.config import parse_settings
from gateway.segments.ingest import ingest
from gateway.models import Actor
from gateway.web.appkeys import RUNTIME

T0 = 1_700_000_000 * US
RETENTION_S = 3600          # the test policy's minimum: segments die an hour after they end
GRACE_S = 2 * 3600
REVIEW_S = 10 * 24 * 3600

POLICY = f"""
id = "test-policy"
title = "Test policy"
jurisdiction = "Testland"
[retention]
minimum = "{RETENTION_S}s"
minimum_source = "test"
maximum = "2d"
maximum_source = "test"
hold_request_grace = "{GRACE_S}s"
hold_review = "{REVIEW_S}s"
[access]
view_roles = ["director", "staff"]
source = "test: staff may confirm the incident they flagged"
"""
ROLE_USERS = {"dana": "director", "dee": "director", "sam": "staff", "sue": "staff",
              "aud": "auditor", "adm": "admin"}


@functools.lru_cache(maxsize=None)
def clip(seed: int = 0) -> bytes:
    """A small real H.264 MP4 (generated, never committed)."""
    from gateway.media.synth import make_segment
    return make_segment(seconds=1.0, fps=5, width=160, height=96, seed=seed)


@dataclass
class Env:
    client: object
    app: object
    clock: FakeClock
    tokens: dict[str, str]

    @property
    def svc(self):
        return self.app[RUNTIME]

    def h(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def ingest(self, camera: str, start_us: int, seed: int = 0):
        """Store one segment that starts at ``start_us`` (1 s long)."""
        cam = self.svc.settings.camera(camera)
        return await ingest(self.svc, cam, clip(seed), start_hint_us=start_us)

    async def request(self, user: str, cameras, start_us, end_us, **extra):
        body = {"cameras": cameras, "start": iso(start_us), "end": iso(end_us),
                "incident": "INC-42", "reason": "bag stolen at the desk", **extra}
        return await self.client.post("/api/v1/holds", json=body, headers=self.h(user))

    async def post(self, user: str, path: str, body: dict | None = None):
        return await self.client.post(path, json=body or {}, headers=self.h(user))

    async def exists(self, uid: str) -> bool:
        seg = await self.svc.catalog.run(seg_sql.get_segment, uid)
        return seg is not None and seg.state != "shredded"


def make_settings(tmp: Path):
    pol = tmp / "policies"
    pol.mkdir(exist_ok=True)
    (pol / "test-policy.toml").write_text(POLICY)
    cams = [{"id": c, "name": c.title(), "policy": "test-policy", "zone": "entrance",
             "purpose": "security of the entrance", "push_token": f"{c}-token-0123456789"}
            for c in ("lobby", "desk")]
    return parse_settings({"storage": {"path": str(tmp / "store"), "min_free_bytes": 0},
                           "policies_dir": str(pol), "cameras": cams})


async def make_env(aiohttp_client, tmp: Path) -> Env:
    clock = FakeClock(T0)
    app = create_app(make_settings(tmp), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    root = Actor("root", "operator")
    tokens = {}
    for name, role in ROLE_USERS.items():
        await users.add_user(svc.catalog, clock, name, role, None, root)
        tokens[name] = await users.issue_token(svc.catalog, clock, name, root)
    return Env(client, app, clock, tokens)

ROOT = Actor("root", "operator")


EXPORT = {"ground": "court_order", "reference": "CO-2024-117", "recipient": "law_enforcement",
          "recipient_name": "Springfield PD, Det. Lee", "counsel": "J. Doe, county counsel",
          "reason": "court order served for the theft of 3 May"}

async def active_hold(env: Env, cameras=("lobby",), seeds=(0, 1),
                      base: int = T0, record_order: bool = True) -> tuple[dict, list]:
    """An approved hold over two lobby segments (and a desk segment outside the hold)."""
    segs = [await env.ingest("lobby", base - (60 - 2 * i) * US, seed=s)
            for i, s in enumerate(seeds)]
    await env.ingest("desk", base - 60 * US, seed=3)
    hold = await (await env.request("sam", list(cameras), base - 120 * US, base)).json()
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/approve", {"note": "ok"})
    assert r.status == 200
    if record_order:  # the order served on the hold: court-order exports disclose under it
        r = await env.post("dana", f"/api/v1/holds/{hold['id']}/court-order",
                           {"reference": EXPORT["reference"]})
        assert r.status == 200
    return await r.json(), segs


async def build(env: Env, hold_id: int, **overrides) -> tuple[int, dict]:
    r = await env.post("dana", f"/api/v1/holds/{hold_id}/exports", EXPORT | overrides)
    return r.status, await r.json()
